/* The bounded message queue under concurrency: many producers, a small capacity, nothing lost
 * or duplicated, the bound respected, timeouts and closing. Host-only. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/queue.h"
#include "test_support.h"

enum { PRODUCERS = 8, PER_PRODUCER = 5000, CAPACITY = 7 };

static tq_queue q;

static void *producer(void *arg) {
  uint32_t w = (uint32_t)(uintptr_t)arg;
  for (uint32_t i = 0; i < PER_PRODUCER; i++) {
    tq_msg m = {0};
    m.data = malloc(8);
    memcpy(m.data, &w, 4);
    memcpy(m.data + 4, &i, 4);
    m.len = 8;
    m.worker = w;
    m.iteration = i;
    tq_err e = {0};
    if (tq_queue_push(&q, &m, &e) != TQ_OK) {
      free(m.data);
      return (void *)1;
    }
  }
  return NULL;
}

static void test_many_producers(void) {
  tq_err e = {0};
  TQ_ASSERT_OK(tq_queue_init(&q, CAPACITY, &e), &e);
  pthread_t th[PRODUCERS];
  for (uintptr_t w = 0; w < PRODUCERS; w++) pthread_create(&th[w], NULL, producer, (void *)w);
  /* seen[w][i]: each (worker, item) exactly once; per producer, items arrive in order */
  static unsigned char seen[PRODUCERS][PER_PRODUCER];
  memset(seen, 0, sizeof seen);
  int32_t last[PRODUCERS];
  for (int w = 0; w < PRODUCERS; w++) last[w] = -1;
  int bad_payload = 0, out_of_order = 0;
  for (int n = 0; n < PRODUCERS * PER_PRODUCER; n++) {
    tq_msg m;
    CU_ASSERT_EQUAL_FATAL(tq_queue_pop(&q, &m, 10.0), 1);
    uint32_t w, i;
    memcpy(&w, m.data, 4);
    memcpy(&i, m.data + 4, 4);
    bad_payload += w != m.worker || i != m.iteration || w >= PRODUCERS || i >= PER_PRODUCER;
    if (w < PRODUCERS && i < PER_PRODUCER) {
      seen[w][i]++;
      out_of_order += (int32_t)i <= last[w];
      last[w] = (int32_t)i;
    }
    free(m.data);
  }
  for (int w = 0; w < PRODUCERS; w++) {
    void *rc;
    pthread_join(th[w], &rc);
    CU_ASSERT_PTR_NULL(rc);
  }
  int missing = 0, dup = 0;
  for (int w = 0; w < PRODUCERS; w++)
    for (int i = 0; i < PER_PRODUCER; i++) {
      missing += seen[w][i] == 0;
      dup += seen[w][i] > 1;
    }
  CU_ASSERT_EQUAL(bad_payload, 0);
  CU_ASSERT_EQUAL(missing, 0);
  CU_ASSERT_EQUAL(dup, 0);
  CU_ASSERT_EQUAL(out_of_order, 0);
  CU_ASSERT(q.high_water <= CAPACITY);
  CU_ASSERT_EQUAL(q.high_water, CAPACITY); /* 8 producers against 7 slots: it filled up */
  tq_msg m;
  CU_ASSERT_EQUAL(tq_queue_pop(&q, &m, 0.05), 0); /* empty: times out */
  tq_queue_destroy(&q);
}

static void test_close(void) {
  tq_err e = {0};
  TQ_ASSERT_OK(tq_queue_init(&q, 2, &e), &e);
  tq_msg m = {.data = malloc(1), .len = 1};
  TQ_ASSERT_OK(tq_queue_push(&q, &m, &e), &e);
  tq_queue_close(&q);
  tq_msg m2 = {.data = malloc(1), .len = 1};
  tq_err e2 = {0};
  CU_ASSERT_NOT_EQUAL(tq_queue_push(&q, &m2, &e2), TQ_OK); /* closed: refused, data kept */
  CU_ASSERT_PTR_NOT_NULL(m2.data);
  free(m2.data);
  tq_msg got;
  CU_ASSERT_EQUAL(tq_queue_pop(&q, &got, 1.0), 1); /* what was queued still drains */
  free(got.data);
  CU_ASSERT_EQUAL(tq_queue_pop(&q, &got, 1.0), -1);
  tq_queue_destroy(&q);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"8 producers, capacity 7: nothing lost, duplicated or reordered", test_many_producers},
      {"close: pushes refused, queued messages drain", test_close},
      {NULL, NULL}};
  tq_test_add_suite("queue", cases);
  return tq_test_run();
}
