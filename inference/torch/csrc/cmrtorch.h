/* C interface of the libcgotorch.so shim as the torch runtime uses it: the
   subset of gotorch's cgotorch functions we call (they catch C++ exceptions
   and return an error string), plus cmrseg's own extensions (cmr_*) for what
   gotorch lacks or gets wrong. Every function returning const char* returns
   NULL on success or an error message the caller frees with FreeString. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#include <torch/torch.h>
extern "C" {
typedef at::Tensor *Tensor;
typedef torch::optim::Optimizer *Optimizer;
#else
typedef void *Tensor;
typedef void *Optimizer;
#endif

/* From gotorch (cgotorch/*.cc, compiled unchanged into the same library). */
void FreeString(const char *s);
const char *Conv2d(Tensor input, Tensor weight, Tensor bias,
                   int64_t *stride_data, int64_t stride_len,
                   int64_t *padding_data, int64_t padding_len,
                   int64_t *dilation_data, int64_t dilation_len, int64_t groups,
                   Tensor *result);
const char *ConvTranspose2d(Tensor input, Tensor weight, Tensor bias,
                            int64_t *stride_data, int64_t stride_len,
                            int64_t *padding_data, int64_t padding_len,
                            int64_t *output_padding_data,
                            int64_t output_padding_len, int64_t groups,
                            int64_t *dilation_data, int64_t dilation_len,
                            Tensor *result);
const char *FLeakyRelu(Tensor input, double negative_slope, int8_t inplace,
                       Tensor *result);
const char *Add(Tensor a, Tensor other, float alpha, Tensor *result);
const char *Sub(Tensor a, Tensor other, float alpha, Tensor *result);
const char *Mul(Tensor a, Tensor other, Tensor *result);
const char *Div(Tensor a, Tensor other, Tensor *result);
const char *Mean(Tensor a, Tensor *result);
const char *Sum(Tensor a, Tensor *result);
const char *LogSoftmax(Tensor a, int64_t dim, Tensor *result);
const char *Argmax(Tensor a, int64_t *dim, int8_t keepdim, Tensor *result);
const char *Permute(Tensor a, int64_t *dims, int64_t dims_size, Tensor *result);
const char *View(Tensor a, Tensor *result, int64_t *size, int64_t size_len);
void Optimizer_SetLR(Optimizer opt, double learning_rate);
void Optimizer_Close(Optimizer opt);

/* cmrseg extensions (inference/torch/csrc/cmrtorch.cc). */
void cmr_free(Tensor t);
const char *cmr_from_blob(const void *data, int8_t dtype, const int64_t *shape,
                          int64_t ndim, Tensor *out);
const char *cmr_copy_out(Tensor t, int8_t dtype, void *dst, int64_t numel);
const char *cmr_shape(Tensor t, int64_t *dims, int64_t cap, int64_t *ndim);
const char *cmr_dtype(Tensor t, int8_t *dtype);
const char *cmr_device(Tensor t, int8_t *type, int64_t *index);
const char *cmr_to(Tensor t, int8_t device_type, int64_t device_index,
                   int8_t dtype, Tensor *out);
const char *cmr_zeros(const int64_t *shape, int64_t ndim, int8_t dtype,
                      int8_t device_type, int64_t device_index, Tensor *out);
const char *cmr_randn(const int64_t *shape, int64_t ndim, Tensor *out);
const char *cmr_full_like(Tensor t, double value, Tensor *out);
const char *cmr_clone(Tensor t, Tensor *out);
const char *cmr_detach(Tensor t, Tensor *out);
const char *cmr_set_requires_grad(Tensor t, bool on);
const char *cmr_copy_(Tensor dst, Tensor src);
const char *cmr_zero_(Tensor t);
const char *cmr_item(Tensor t, double *out);

const char *cmr_cat(const Tensor *ts, int64_t n, int64_t dim, Tensor *out);
const char *cmr_exp(Tensor t, Tensor *out);
const char *cmr_log(Tensor t, Tensor *out);
const char *cmr_softmax(Tensor t, int64_t dim, Tensor *out);
const char *cmr_mul_scalar(Tensor t, double s, Tensor *out);
const char *cmr_add_scalar(Tensor t, double s, Tensor *out);
const char *cmr_sum_dims(Tensor t, const int64_t *dims, int64_t n,
                         bool keepdim, Tensor *out);
const char *cmr_mean_dims(Tensor t, const int64_t *dims, int64_t n,
                          bool keepdim, Tensor *out);
const char *cmr_flip(Tensor t, const int64_t *dims, int64_t n, Tensor *out);
const char *cmr_pad(Tensor t, const int64_t *pads, int64_t n, double value,
                    Tensor *out);
const char *cmr_interpolate(Tensor t, int64_t h, int64_t w, int8_t mode,
                            Tensor *out);
const char *cmr_instance_norm(Tensor x, Tensor weight, Tensor bias, double eps,
                              Tensor *out);
const char *cmr_dropout2d(Tensor x, double p, bool train, Tensor *out);
const char *cmr_cross_entropy(Tensor logits, Tensor target, Tensor *out);
const char *cmr_one_hot(Tensor target, int64_t classes, Tensor *out);
const char *cmr_slice(Tensor t, int64_t dim, int64_t start, int64_t end,
                      Tensor *out);
const char *cmr_reshape(Tensor t, const int64_t *shape, int64_t n, Tensor *out);
const char *cmr_kaiming_normal_(Tensor t, double a);

const char *cmr_backward(Tensor loss);
const char *cmr_grad(Tensor t, Tensor *out);
void cmr_set_grad_enabled(bool on);
bool cmr_is_grad_enabled(void);
void cmr_manual_seed(uint64_t seed);
void cmr_set_num_threads(int32_t n);
int32_t cmr_get_num_threads(void);

const char *cmr_sgd_new(const Tensor *params, int64_t n, double lr,
                        double momentum, double weight_decay, bool nesterov,
                        Optimizer *out);
const char *cmr_optimizer_zero_grad(Optimizer opt);
const char *cmr_optimizer_step(Optimizer opt);
/* Serialised optimizer state (momentum buffers): *buf is malloc'd, the caller
   frees it with cmr_free_bytes. */
const char *cmr_optimizer_save(Optimizer opt, char **buf, int64_t *len);
const char *cmr_optimizer_load(Optimizer opt, const char *buf, int64_t len);
const char *cmr_rng_save(char **buf, int64_t *len);
const char *cmr_rng_load(const char *buf, int64_t len);
void cmr_free_bytes(char *buf);

bool cmr_cuda_available(void);
int64_t cmr_cuda_device_count(void);
const char *cmr_cuda_synchronize(void);
/* Strings below are allocated like error messages: free with FreeString. */
const char *cmr_version(void);
const char *cmr_config(void);
const char *cmr_parallel_info(void);

/* Test hook: throws a C++ exception of the named kind so tests can prove the
   conversion to Go errors (kind 0: c10::Error, 1: std::runtime_error,
   2: a non-std exception). */
const char *cmr_throw_for_test(int32_t kind);

#ifdef __cplusplus
}
#endif
