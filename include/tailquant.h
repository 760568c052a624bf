/* libtailquant: the gradient codec of tailquant (QSGD, QSGDinf, NUQSGD, TQSGD, TNQSGD, TBQSGD)
 * for your own code. One codec encodes float32 tensors into self-describing wire messages
 * (docs/wire-format.md) and decodes messages back, on the host (the plain-C reference, the
 * default) or on an OpenCL device. For the same input, seed, worker, tensor id and iteration
 * both paths write the same bytes for fp32 and the QSGD family; for the truncated family the
 * device sums |g| in another order, so alpha and the levels may differ in the last bits (the
 * codes for given levels are bit-identical). Either path decodes any valid message.
 *
 *   tailquant_codec *c;
 *   if (tailquant_codec_create("method=tnqsgd bits=3", &c)) { puts(tailquant_last_error()); ... }
 *   const uint8_t *msg; size_t len;
 *   tailquant_encode(c, grad, n, tensor_id, iteration, &msg, &len);  // msg: valid until the next encode
 *   ... send msg, len ...
 *   tailquant_decode(c, msg, len, sum, n, 1.0f / workers, NULL);   // sum[i] += weight * decoded[i]
 *   tailquant_codec_free(c);
 *
 * Build: cc prog.c $(pkg-config --cflags --libs tailquant). No OpenCL header or type is needed.
 * Errors: every function that can fail returns a tailquant_status (0 = success) and leaves a
 * message naming the value at fault in tailquant_last_error() (per thread). A codec is not
 * safe to use from two threads at once; separate codecs are. */
#ifndef TAILQUANT_H
#define TAILQUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TAILQUANT_API __attribute__((visibility("default")))
#else
#define TAILQUANT_API
#endif

typedef enum tailquant_status {
  TAILQUANT_OK = 0,
  TAILQUANT_EINPUT = 2,   /* bad argument, option or message (rejected messages start "rejected message:") */
  TAILQUANT_EIO = 3,      /* the system refused a read or write */
  TAILQUANT_EDEVICE = 4,  /* an OpenCL call failed (device path only) */
  TAILQUANT_ENOMEM = 5,   /* host or device memory exhausted */
  TAILQUANT_EINTERNAL = 6 /* a bug in tailquant */
} tailquant_status;

/* "0.1.0 (git v0.1.0-12-gabcdef0)": the library's version and the commit it was built from. */
TAILQUANT_API const char *tailquant_version(void);

/* The name of method i (0, 1, ...) of the library's method table (docs/compression.md), NULL
 * past the last: how a binding lists the methods without copying the table. */
TAILQUANT_API const char *tailquant_method_name(int i);

/* The message of the last failed call on this thread ("" if none). */
TAILQUANT_API const char *tailquant_last_error(void);

typedef struct tailquant_codec tailquant_codec;

/* options: NULL or "" for the defaults, else key=value pairs separated by spaces or commas:
 *   method=tnqsgd        any name of docs/compression.md's method table
 *   bits=3               bits per element: 1..8 (truncated family), 2..8 (QSGD family)
 *   bucket=512           QSGD family: elements per norm (0 = the whole tensor)
 *   tail=powerlaw        truncated family: powerlaw|laplace
 *   alpha_rule=bound     truncated family: bound|truevar
 *   zero_level=0         truncated family: 2^b - 1 levels including 0
 *   error_feedback=0     keep a residual per tensor id and add it to the next encode
 *   min_elems=1024       tensors with fewer elements travel as fp32 (0: compress every tensor)
 *   refit_every=1        device path: reuse a tensor's level design for K iterations
 *   seed=1               stochastic-rounding seed
 *   worker=0             this sender's id: keys its random stream, written into its messages
 *   device=host          host (plain C, no OpenCL needed) or an OpenCL device: auto|cpu|gpu|P:D|name
 * Tensor ids are the caller's small integers (0..65535): each id keys the random stream and has
 * one element count for the codec's life (its residual, with error feedback). */
TAILQUANT_API tailquant_status tailquant_codec_create(const char *options, tailquant_codec **out);
TAILQUANT_API void tailquant_codec_free(tailquant_codec *c);

/* The OpenCL device the codec runs on ("host" for the host path). */
TAILQUANT_API const char *tailquant_codec_device(const tailquant_codec *c);

/* Encodes x[0..n) as tensor `tensor` of `iteration`. *msg points into the codec and stays valid
 * until the next encode or tailquant_codec_free. x must be finite. */
TAILQUANT_API tailquant_status tailquant_encode(tailquant_codec *c, const float *x, size_t n,
                                                uint32_t tensor, uint32_t iteration,
                                                const uint8_t **msg, size_t *len);

/* What a message says about itself (tailquant_message_info, tailquant_decode). */
typedef struct tailquant_header {
  char method[16];   /* "none", "qsgd", ... */
  int bits;          /* bits per element (32 for none) */
  int levels;        /* entries of the level table */
  uint32_t worker, iteration, tensor;
  uint32_t count;    /* elements */
  uint32_t bucket;   /* QSGD family: elements per norm; 0 otherwise */
  float alpha;       /* truncated family: the truncation threshold; 0 otherwise */
  uint64_t header_bits, payload_bits, pad_bits; /* their sum is 8 x the message length */
} tailquant_header;

/* Validates a message completely (every check of docs/wire-format.md, CRC included) and
 * fills *h. A message that fails a check is TAILQUANT_EINPUT. */
TAILQUANT_API tailquant_status tailquant_message_info(const uint8_t *msg, size_t len,
                                                      tailquant_header *h);

/* Validates msg (its element count must be n) and adds weight x its decoded values to out:
 * out[i] += weight * decoded[i]. A rejected message leaves out untouched. h may be NULL. */
TAILQUANT_API tailquant_status tailquant_decode(tailquant_codec *c, const uint8_t *msg, size_t len,
                                                float *out, size_t n, float weight,
                                                tailquant_header *h);

/* Forgets every tensor id: residuals, element counts and level designs. */
TAILQUANT_API tailquant_status tailquant_codec_reset(tailquant_codec *c);

#ifdef __cplusplus
}
#endif

#endif
