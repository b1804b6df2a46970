/* ppl_lite: a C interface to Paddle Lite's light API (MobileConfig), for ctypes and for ppl_run.
 *
 * Paddle Lite publishes only a C++ API, and the `paddlelite` Python package has no build for
 * aarch64, so on an ARM board Python reaches the .nb through this library instead. Every
 * function returns 0 on success; on failure it returns -1 and ppl_last_error() says why
 * (Lite must be built with exceptions on, as ../shared/lite-armv8 is, to report load errors). */
#ifndef PPL_LITE_H_
#define PPL_LITE_H_
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ppl_dtype { PPL_FLOAT32 = 0, PPL_INT64 = 1, PPL_INT32 = 2 };

typedef struct ppl_predictor ppl_predictor;

/* Loads a .nb file; NULL on failure. */
ppl_predictor* ppl_create(const char* nb_path, int threads);
void ppl_destroy(ppl_predictor* p);
/* Copies one input tensor (C order) into the predictor. */
int ppl_set_input(ppl_predictor* p, const char* name, int dtype, const int64_t* dims, int ndim, const void* data);
int ppl_run(ppl_predictor* p);
/* How many output tensors the model has. */
int ppl_output_count(ppl_predictor* p, int* count);
/* Output `index` as float32: its rank, its dims (up to 8) and a pointer valid until the next run. */
int ppl_output(ppl_predictor* p, int index, int* ndim, int64_t* dims, const float** data);
const char* ppl_last_error(void);

#ifdef __cplusplus
}
#endif
#endif  // PPL_LITE_H_
