// ppl_lite: the C interface of ppl_lite.h over Paddle Lite's MobileConfig predictor.
#include "ppl_lite.h"

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "paddle_api.h"  // NOLINT

using paddle::lite_api::CreatePaddlePredictor;
using paddle::lite_api::MobileConfig;
using paddle::lite_api::PaddlePredictor;
using paddle::lite_api::PrecisionType;
using paddle::lite_api::shape_t;

struct ppl_predictor {
  std::shared_ptr<PaddlePredictor> predictor;
  std::vector<float> output;  // the last output asked for, as float32
};

static thread_local std::string last_error;

static int Fail(const std::string& message) {
  last_error = message;
  return -1;
}

extern "C" {

const char* ppl_last_error(void) { return last_error.c_str(); }

ppl_predictor* ppl_create(const char* nb_path, int threads) {
  try {
    MobileConfig config;
    config.set_model_from_file(nb_path);
    config.set_threads(threads < 1 ? 1 : threads);
    config.set_power_mode(paddle::lite_api::LITE_POWER_NO_BIND);
    std::unique_ptr<ppl_predictor> p(new ppl_predictor);
    p->predictor = CreatePaddlePredictor<MobileConfig>(config);
    if (!p->predictor) {
      Fail(std::string("Paddle Lite could not create a predictor for ") + nb_path);
      return nullptr;
    }
    return p.release();
  } catch (const std::exception& e) {
    Fail(std::string("Paddle Lite cannot load ") + nb_path + ": " + e.what());
    return nullptr;
  }
}

void ppl_destroy(ppl_predictor* p) { delete p; }

int ppl_set_input(ppl_predictor* p, const char* name, int dtype, const int64_t* dims, int ndim,
                  const void* data) {
  try {
    std::unique_ptr<paddle::lite_api::Tensor> t = p->predictor->GetInputByName(name);
    if (!t) return Fail(std::string("the model has no input named ") + name);
    t->Resize(shape_t(dims, dims + ndim));
    switch (dtype) {
      case PPL_FLOAT32: t->CopyFromCpu<float>(static_cast<const float*>(data)); break;
      case PPL_INT64: t->CopyFromCpu<int64_t>(static_cast<const int64_t*>(data)); break;
      case PPL_INT32: t->CopyFromCpu<int32_t>(static_cast<const int32_t*>(data)); break;
      default: return Fail("unsupported input dtype code " + std::to_string(dtype));
    }
    return 0;
  } catch (const std::exception& e) {
    return Fail(std::string("setting input ") + name + ": " + e.what());
  }
}

int ppl_run(ppl_predictor* p) {
  try {
    p->predictor->Run();
    return 0;
  } catch (const std::exception& e) {
    return Fail(std::string("Paddle Lite run failed: ") + e.what());
  }
}

int ppl_output_count(ppl_predictor* p, int* count) {
  try {
    *count = static_cast<int>(p->predictor->GetOutputNames().size());
    return 0;
  } catch (const std::exception& e) {
    return Fail(std::string("listing outputs: ") + e.what());
  }
}

int ppl_output(ppl_predictor* p, int index, int* ndim, int64_t* dims, const float** data) {
  try {
    std::unique_ptr<const paddle::lite_api::Tensor> t = p->predictor->GetOutput(index);
    shape_t shape = t->shape();
    if (shape.size() > 8) return Fail("output rank above 8");
    int64_t numel = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      dims[i] = shape[i];
      numel *= shape[i];
    }
    *ndim = static_cast<int>(shape.size());
    p->output.resize(numel);
    switch (t->precision()) {
      case PrecisionType::kFloat: t->CopyToCpu<float>(p->output.data()); break;
      case PrecisionType::kInt64: {
        const int64_t* v = t->data<int64_t>();
        for (int64_t i = 0; i < numel; ++i) p->output[i] = static_cast<float>(v[i]);
        break;
      }
      case PrecisionType::kInt32: {
        const int32_t* v = t->data<int32_t>();
        for (int64_t i = 0; i < numel; ++i) p->output[i] = static_cast<float>(v[i]);
        break;
      }
      default: return Fail("output precision is not float32, int64 or int32");
    }
    *data = p->output.data();
    return 0;
  } catch (const std::exception& e) {
    return Fail(std::string("reading output: ") + e.what());
  }
}

}  // extern "C"
