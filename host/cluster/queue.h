/* A bounded multi-producer, multi-consumer queue of messages (wire-format bytes) between worker
 * threads and the server. push blocks while the queue is full, so a fast worker cannot run away
 * from the server; pop blocks while it is empty, until a deadline. Closing wakes everyone:
 * pushes then fail and pops drain what is left. */
#ifndef TQ_CLUSTER_QUEUE_H
#define TQ_CLUSTER_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/messages.h"
#include "util/err.h"

typedef struct tq_msg {
  tq_msg_kind kind; /* TQ_MSG_GRADIENT, TQ_MSG_FAILED or TQ_MSG_NONFINITE */
  uint8_t *data; /* owned by the message: malloc'd by the producer, freed by the consumer */
  size_t len;
  uint32_t worker, iteration;
  int tensor; /* TQ_MSG_GRADIENT: which tensor */
  double t_push; /* tq_now_seconds() when pushed: the server measures time spent queued */
} tq_msg;

typedef struct tq_queue {
  pthread_mutex_t mu;
  pthread_cond_t not_full, not_empty;
  tq_msg *ring;
  size_t cap, head, count;
  int closed;
  size_t high_water; /* the most messages ever queued at once (tests check the bound) */
} tq_queue;

tq_status tq_queue_init(tq_queue *q, size_t capacity, tq_err *e);
void tq_queue_destroy(tq_queue *q); /* frees the data of messages still queued */

/* Takes ownership of m->data on success. Fails (TQ_EINTERNAL) if the queue is closed. */
tq_status tq_queue_push(tq_queue *q, tq_msg *m, tq_err *e);

/* 1: got a message; 0: timed out (timeout_s < 0 waits forever); -1: closed and empty. */
int tq_queue_pop(tq_queue *q, tq_msg *out, double timeout_s);

void tq_queue_close(tq_queue *q);

#endif
