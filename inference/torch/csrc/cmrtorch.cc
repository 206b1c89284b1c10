// cmrseg's extensions to gotorch's C shim. Each entry point catches every
// C++ exception (c10::Error, std::exception and anything else) and returns
// it as a message, because an exception crossing the cgo boundary aborts
// the whole process (gotorch's own Backward and Optimizer_Step do that).
#include "cmrtorch.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern "C" const char *exception_str(const char *e);  // gotorch, torch.cc

namespace {

const char *ok() { return nullptr; }

at::Tensor &ref(Tensor t) {
  if (t == nullptr) throw std::invalid_argument("null tensor handle");
  return *t;
}

// Device codes shared with Go: 0 CPU, 1 CUDA.
torch::Device device_of(int8_t type, int64_t index) {
  if (type == 1) return torch::Device(torch::kCUDA, index < 0 ? 0 : index);
  return torch::Device(torch::kCPU);
}

}  // namespace

#define CMR_TRY try {
#define CMR_CATCH                                  \
  }                                                \
  catch (const c10::Error &e) {                    \
    return exception_str(e.what_without_backtrace()); \
  }                                                \
  catch (const std::exception &e) {                \
    return exception_str(e.what());                \
  }                                                \
  catch (...) {                                    \
    return exception_str("unknown C++ exception"); \
  }                                                \
  return ok();

#define CMR_OUT(expr) \
  CMR_TRY *out = new at::Tensor(expr); CMR_CATCH

extern "C" {

void cmr_free(Tensor t) { delete t; }

const char *cmr_from_blob(const void *data, int8_t dtype, const int64_t *shape,
                          int64_t ndim, Tensor *out) {
  CMR_OUT(at::from_blob(const_cast<void *>(data),
                        at::IntArrayRef(shape, ndim),
                        torch::dtype(at::ScalarType(dtype)))
              .clone())
}

const char *cmr_copy_out(Tensor t, int8_t dtype, void *dst, int64_t numel) {
  CMR_TRY
  auto src = ref(t).detach().to(torch::kCPU, at::ScalarType(dtype)).contiguous();
  if (src.numel() != numel) {
    throw std::length_error("copy out: tensor has " +
                            std::to_string(src.numel()) +
                            " elements, destination " + std::to_string(numel));
  }
  std::memcpy(dst, src.data_ptr(), numel * src.element_size());
  CMR_CATCH
}

const char *cmr_shape(Tensor t, int64_t *dims, int64_t cap, int64_t *ndim) {
  CMR_TRY
  auto s = ref(t).sizes();
  *ndim = s.size();
  for (int64_t i = 0; i < (int64_t)s.size() && i < cap; i++) dims[i] = s[i];
  CMR_CATCH
}

const char *cmr_dtype(Tensor t, int8_t *dtype) {
  CMR_TRY *dtype = (int8_t)ref(t).scalar_type(); CMR_CATCH
}

const char *cmr_device(Tensor t, int8_t *type, int64_t *index) {
  CMR_TRY
  auto d = ref(t).device();
  *type = d.is_cuda() ? 1 : 0;
  *index = d.has_index() ? d.index() : 0;
  CMR_CATCH
}

const char *cmr_to(Tensor t, int8_t device_type, int64_t device_index,
                   int8_t dtype, Tensor *out) {
  CMR_OUT(ref(t).to(device_of(device_type, device_index), at::ScalarType(dtype)))
}

const char *cmr_zeros(const int64_t *shape, int64_t ndim, int8_t dtype,
                      int8_t device_type, int64_t device_index, Tensor *out) {
  CMR_OUT(torch::zeros(at::IntArrayRef(shape, ndim),
                       torch::dtype(at::ScalarType(dtype))
                           .device(device_of(device_type, device_index))))
}

const char *cmr_randn(const int64_t *shape, int64_t ndim, Tensor *out) {
  CMR_OUT(torch::randn(at::IntArrayRef(shape, ndim)))
}

const char *cmr_full_like(Tensor t, double value, Tensor *out) {
  CMR_OUT(torch::full_like(ref(t), value))
}

const char *cmr_clone(Tensor t, Tensor *out) { CMR_OUT(ref(t).clone()) }
const char *cmr_detach(Tensor t, Tensor *out) { CMR_OUT(ref(t).detach()) }

const char *cmr_set_requires_grad(Tensor t, bool on) {
  CMR_TRY ref(t).requires_grad_(on); CMR_CATCH
}

const char *cmr_copy_(Tensor dst, Tensor src) {
  CMR_TRY
  torch::NoGradGuard guard;
  ref(dst).copy_(ref(src));
  CMR_CATCH
}

const char *cmr_zero_(Tensor t) {
  CMR_TRY
  torch::NoGradGuard guard;
  ref(t).zero_();
  CMR_CATCH
}

const char *cmr_item(Tensor t, double *out) {
  CMR_TRY *out = ref(t).item<double>(); CMR_CATCH
}

const char *cmr_cat(const Tensor *ts, int64_t n, int64_t dim, Tensor *out) {
  CMR_TRY
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) v.push_back(ref(ts[i]));
  *out = new at::Tensor(torch::cat(v, dim));
  CMR_CATCH
}

const char *cmr_exp(Tensor t, Tensor *out) { CMR_OUT(ref(t).exp()) }
const char *cmr_log(Tensor t, Tensor *out) { CMR_OUT(ref(t).log()) }
const char *cmr_softmax(Tensor t, int64_t dim, Tensor *out) {
  CMR_OUT(ref(t).softmax(dim))
}
const char *cmr_mul_scalar(Tensor t, double s, Tensor *out) {
  CMR_OUT(ref(t).mul(s))
}
const char *cmr_add_scalar(Tensor t, double s, Tensor *out) {
  CMR_OUT(ref(t).add(s))
}
const char *cmr_sum_dims(Tensor t, const int64_t *dims, int64_t n,
                         bool keepdim, Tensor *out) {
  CMR_OUT(ref(t).sum(at::IntArrayRef(dims, n), keepdim))
}
const char *cmr_mean_dims(Tensor t, const int64_t *dims, int64_t n,
                          bool keepdim, Tensor *out) {
  CMR_OUT(ref(t).mean(at::IntArrayRef(dims, n), keepdim))
}
const char *cmr_flip(Tensor t, const int64_t *dims, int64_t n, Tensor *out) {
  CMR_OUT(ref(t).flip(at::IntArrayRef(dims, n)))
}

// Constant padding in torch's order (last dim first: left, right, top,
// bottom); negative amounts crop.
const char *cmr_pad(Tensor t, const int64_t *pads, int64_t n, double value,
                    Tensor *out) {
  CMR_OUT(torch::constant_pad_nd(ref(t), at::IntArrayRef(pads, n), value))
}

// mode 0: nearest, 1: bilinear (align_corners=false, as nnU-Net and
// torch.nn.functional.interpolate default).
const char *cmr_interpolate(Tensor t, int64_t h, int64_t w, int8_t mode,
                            Tensor *out) {
  CMR_TRY
  std::vector<int64_t> size{h, w};
  namespace F = torch::nn::functional;
  auto opts = F::InterpolateFuncOptions().size(size);
  if (mode == 1) {
    opts = opts.mode(torch::kBilinear).align_corners(false);
  } else {
    opts = opts.mode(torch::kNearest);
  }
  *out = new at::Tensor(F::interpolate(ref(t), opts));
  CMR_CATCH
}

const char *cmr_instance_norm(Tensor x, Tensor weight, Tensor bias, double eps,
                              Tensor *out) {
  CMR_OUT(torch::instance_norm(ref(x), weight ? *weight : at::Tensor(),
                               bias ? *bias : at::Tensor(), at::Tensor(),
                               at::Tensor(), true, 0.1, eps,
                               at::globalContext().userEnabledCuDNN()))
}

const char *cmr_dropout2d(Tensor x, double p, bool train, Tensor *out) {
  CMR_OUT(torch::feature_dropout(ref(x), p, train))
}

// Mean cross entropy over all pixels; target holds int64 class indices.
const char *cmr_cross_entropy(Tensor logits, Tensor target, Tensor *out) {
  CMR_OUT(torch::nn::functional::cross_entropy(ref(logits), ref(target)))
}

const char *cmr_one_hot(Tensor target, int64_t classes, Tensor *out) {
  CMR_TRY
  // (N, H, W) int64 -> (N, C, H, W) float32
  auto oh = torch::one_hot(ref(target), classes).permute({0, 3, 1, 2});
  *out = new at::Tensor(oh.to(torch::kFloat32).contiguous());
  CMR_CATCH
}

const char *cmr_slice(Tensor t, int64_t dim, int64_t start, int64_t end,
                      Tensor *out) {
  CMR_OUT(ref(t).slice(dim, start, end))
}

const char *cmr_reshape(Tensor t, const int64_t *shape, int64_t n, Tensor *out) {
  CMR_OUT(ref(t).reshape(at::IntArrayRef(shape, n)))
}

const char *cmr_kaiming_normal_(Tensor t, double a) {
  CMR_TRY
  torch::NoGradGuard guard;
  torch::nn::init::kaiming_normal_(ref(t), a, torch::kFanIn,
                                   torch::kLeakyReLU);
  CMR_CATCH
}

const char *cmr_backward(Tensor loss) { CMR_TRY ref(loss).backward(); CMR_CATCH }

const char *cmr_grad(Tensor t, Tensor *out) {
  CMR_TRY
  auto g = ref(t).grad();
  if (!g.defined()) throw std::logic_error("tensor has no gradient");
  *out = new at::Tensor(g);
  CMR_CATCH
}

// Grad mode is thread-local in libtorch; the runtime keeps all torch work on
// one locked OS thread, so setting it here holds across cgo calls.
void cmr_set_grad_enabled(bool on) { c10::GradMode::set_enabled(on); }
bool cmr_is_grad_enabled(void) { return c10::GradMode::is_enabled(); }
void cmr_manual_seed(uint64_t seed) { torch::manual_seed(seed); }
void cmr_set_num_threads(int32_t n) { at::set_num_threads(n); }
int32_t cmr_get_num_threads(void) { return at::get_num_threads(); }

const char *cmr_sgd_new(const Tensor *params, int64_t n, double lr,
                        double momentum, double weight_decay, bool nesterov,
                        Optimizer *out) {
  CMR_TRY
  std::vector<at::Tensor> v;
  for (int64_t i = 0; i < n; i++) v.push_back(ref(params[i]));
  *out = new torch::optim::SGD(v, torch::optim::SGDOptions(lr)
                                      .momentum(momentum)
                                      .weight_decay(weight_decay)
                                      .nesterov(nesterov));
  CMR_CATCH
}

const char *cmr_optimizer_zero_grad(Optimizer opt) {
  CMR_TRY
  if (!opt) throw std::invalid_argument("null optimizer");
  // set_to_none=false keeps PyTorch 1.13's default behaviour
  for (auto &g : opt->param_groups())
    for (auto &p : g.params())
      if (p.grad().defined()) {
        p.mutable_grad().detach_();
        p.mutable_grad().zero_();
      }
  CMR_CATCH
}

const char *cmr_optimizer_step(Optimizer opt) {
  CMR_TRY
  if (!opt) throw std::invalid_argument("null optimizer");
  opt->step();
  CMR_CATCH
}

namespace {
void to_bytes(const std::string &s, char **buf, int64_t *len) {
  *len = s.size();
  *buf = static_cast<char *>(std::malloc(s.size() ? s.size() : 1));
  if (!*buf) throw std::bad_alloc();
  std::memcpy(*buf, s.data(), s.size());
}
}  // namespace

const char *cmr_optimizer_save(Optimizer opt, char **buf, int64_t *len) {
  CMR_TRY
  if (!opt) throw std::invalid_argument("null optimizer");
  torch::serialize::OutputArchive archive;
  opt->save(archive);
  std::ostringstream os;
  archive.save_to(os);
  to_bytes(os.str(), buf, len);
  CMR_CATCH
}

const char *cmr_optimizer_load(Optimizer opt, const char *buf, int64_t len) {
  CMR_TRY
  if (!opt) throw std::invalid_argument("null optimizer");
  std::istringstream is(std::string(buf, len));
  torch::serialize::InputArchive archive;
  archive.load_from(is);
  opt->load(archive);
  CMR_CATCH
}

// The CPU generator's state, so a resumed training run draws the same
// dropout masks and initialisations as an uninterrupted one.
const char *cmr_rng_save(char **buf, int64_t *len) {
  CMR_TRY
  auto state = at::detail::getDefaultCPUGenerator().get_state();
  std::string s(reinterpret_cast<const char *>(state.data_ptr()),
                state.numel() * state.element_size());
  to_bytes(s, buf, len);
  CMR_CATCH
}

const char *cmr_rng_load(const char *buf, int64_t len) {
  CMR_TRY
  auto state = torch::empty({len}, torch::kUInt8);
  std::memcpy(state.data_ptr(), buf, len);
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  CMR_CATCH
}

void cmr_free_bytes(char *buf) { std::free(buf); }

bool cmr_cuda_available(void) {
  try {
    return torch::cuda::is_available();
  } catch (...) {
    return false;
  }
}

int64_t cmr_cuda_device_count(void) {
  try {
    return torch::cuda::device_count();
  } catch (...) {
    return 0;
  }
}

const char *cmr_cuda_synchronize(void) {
  CMR_TRY
  if (torch::cuda::is_available()) torch::cuda::synchronize();
  CMR_CATCH
}

const char *cmr_version(void) {
  std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." +
                  std::to_string(TORCH_VERSION_MINOR) + "." +
                  std::to_string(TORCH_VERSION_PATCH);
  return exception_str(v.c_str());
}

const char *cmr_config(void) {
  try {
    return exception_str(at::show_config().c_str());
  } catch (...) {
    return exception_str("unavailable");
  }
}

const char *cmr_parallel_info(void) {
  try {
    return exception_str(at::get_parallel_info().c_str());
  } catch (...) {
    return exception_str("unavailable");
  }
}

const char *cmr_throw_for_test(int32_t kind) {
  CMR_TRY
  if (kind == 0) TORCH_CHECK(false, "test c10::Error");
  if (kind == 1) throw std::runtime_error("test std::runtime_error");
  throw 42;
  CMR_CATCH
}

}  // extern "C"
