#include "cluster/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/fileio.h"

tq_status tq_queue_init(tq_queue *q, size_t capacity, tq_err *e) {
  memset(q, 0, sizeof *q);
  if (capacity == 0) return tq_fail(e, TQ_EINTERNAL, "a queue needs a capacity above 0");
  q->ring = calloc(capacity, sizeof *q->ring);
  if (!q->ring) return tq_fail(e, TQ_ENOMEM, "out of memory for a queue of %zu messages", capacity);
  q->cap = capacity;
  pthread_mutex_init(&q->mu, NULL);
  /* Deadlines use CLOCK_MONOTONIC so a clock change cannot stall the server. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&q->not_full, &ca);
  pthread_cond_init(&q->not_empty, &ca);
  pthread_condattr_destroy(&ca);
  return TQ_OK;
}

void tq_queue_destroy(tq_queue *q) {
  if (!q->ring) return;
  for (size_t i = 0; i < q->count; i++) free(q->ring[(q->head + i) % q->cap].data);
  free(q->ring);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->not_full);
  pthread_cond_destroy(&q->not_empty);
  memset(q, 0, sizeof *q);
}

tq_status tq_queue_push(tq_queue *q, tq_msg *m, tq_err *e) {
  pthread_mutex_lock(&q->mu);
  while (q->count == q->cap && !q->closed) pthread_cond_wait(&q->not_full, &q->mu);
  if (q->closed) {
    pthread_mutex_unlock(&q->mu);
    return tq_fail(e, TQ_EINTERNAL, "the message queue is closed (the server stopped)");
  }
  m->t_push = tq_now_seconds();
  q->ring[(q->head + q->count) % q->cap] = *m;
  q->count++;
  if (q->count > q->high_water) q->high_water = q->count;
  m->data = NULL; /* ownership moved */
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
  return TQ_OK;
}

int tq_queue_pop(tq_queue *q, tq_msg *out, double timeout_s) {
  struct timespec deadline;
  if (timeout_s >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double whole = (double)(long)timeout_s;
    deadline.tv_sec += (time_t)whole;
    deadline.tv_nsec += (long)((timeout_s - whole) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&q->mu);
  while (q->count == 0 && !q->closed) {
    if (timeout_s < 0) {
      pthread_cond_wait(&q->not_empty, &q->mu);
    } else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline) == ETIMEDOUT &&
               q->count == 0) {
      pthread_mutex_unlock(&q->mu);
      return 0;
    }
  }
  if (q->count == 0) { /* closed and drained */
    pthread_mutex_unlock(&q->mu);
    return -1;
  }
  *out = q->ring[q->head];
  q->head = (q->head + 1) % q->cap;
  q->count--;
  pthread_cond_signal(&q->not_full);
  pthread_mutex_unlock(&q->mu);
  return 1;
}

void tq_queue_close(tq_queue *q) {
  pthread_mutex_lock(&q->mu);
  q->closed = 1;
  pthread_cond_broadcast(&q->not_full);
  pthread_cond_broadcast(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
}
