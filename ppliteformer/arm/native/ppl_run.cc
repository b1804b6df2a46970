// ppl_run: run many inputs through one .nb with one model load (ppl_lite.h underneath).
//
// usage: ppl_run MODEL.nb REQUESTS RESPONSES [threads=1] [repeat=1]
//   REQUESTS   "PPLREQ1\0", u32 count, then per request: u32 inputs, and per input
//              u32 name length, name, u32 dtype (ppl_dtype), u32 rank, i64 dims[rank], C-order data
//   RESPONSES  "PPLRES2\0", u32 count, then per request: u32 outputs, and per output (in the
//              model's order) u32 rank, i64 dims[rank], float32 data; written to RESPONSES.part
//              and renamed when complete
//   repeat     runs of each request (the instruction counter compares repeat=N with repeat=1)
// Little-endian throughout. Exit 1 with "ppl_run error: ..." on stderr on any failure.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ppl_lite.h"

namespace {

struct Reader {
  FILE* f;
  void Read(void* out, size_t n) {
    if (fread(out, 1, n, f) != n) throw std::runtime_error("requests file ends early");
  }
  uint32_t U32() { uint32_t v; Read(&v, 4); return v; }
};

size_t DtypeSize(uint32_t dtype) {
  if (dtype == PPL_INT64) return 8;
  if (dtype == PPL_FLOAT32 || dtype == PPL_INT32) return 4;
  throw std::runtime_error("unknown dtype code " + std::to_string(dtype));
}

void Check(int status) {
  if (status != 0) throw std::runtime_error(ppl_last_error());
}

void Write(FILE* f, const void* data, size_t n) {
  if (fwrite(data, 1, n, f) != n) throw std::runtime_error("cannot write the responses file");
}

void FeedOne(ppl_predictor* p, Reader* in) {
  uint32_t inputs = in->U32();
  for (uint32_t i = 0; i < inputs; ++i) {
    std::string name(in->U32(), '\0');
    in->Read(&name[0], name.size());
    uint32_t dtype = in->U32();
    std::vector<int64_t> dims(in->U32());
    in->Read(dims.data(), dims.size() * 8);
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    std::vector<char> data(numel * DtypeSize(dtype));
    in->Read(data.data(), data.size());
    Check(ppl_set_input(p, name.c_str(), static_cast<int>(dtype), dims.data(), static_cast<int>(dims.size()),
                        data.data()));
  }
}

void WriteOutputs(ppl_predictor* p, FILE* out) {
  int count = 0;
  Check(ppl_output_count(p, &count));
  uint32_t outputs = static_cast<uint32_t>(count);
  Write(out, &outputs, 4);
  for (int index = 0; index < count; ++index) {
    int ndim = 0;
    int64_t dims[8];
    const float* data = nullptr;
    Check(ppl_output(p, index, &ndim, dims, &data));
    int64_t numel = 1;
    for (int i = 0; i < ndim; ++i) numel *= dims[i];
    uint32_t rank = static_cast<uint32_t>(ndim);
    Write(out, &rank, 4);
    Write(out, dims, 8 * ndim);
    Write(out, data, 4 * numel);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL.nb REQUESTS RESPONSES [threads=1] [repeat=1]\n", argv[0]);
    return 2;
  }
  int threads = argc > 4 ? atoi(argv[4]) : 1;
  int repeat = argc > 5 ? atoi(argv[5]) : 1;
  std::string part = std::string(argv[3]) + ".part";
  FILE* in = nullptr;
  FILE* out = nullptr;
  ppl_predictor* p = nullptr;
  try {
    in = fopen(argv[2], "rb");
    if (!in) throw std::runtime_error(std::string("cannot open ") + argv[2]);
    Reader reader{in};
    char magic[8];
    reader.Read(magic, 8);
    if (memcmp(magic, "PPLREQ1", 8) != 0) throw std::runtime_error("not a ppl_run requests file");
    uint32_t count = reader.U32();
    p = ppl_create(argv[1], threads);
    if (!p) throw std::runtime_error(ppl_last_error());
    out = fopen(part.c_str(), "wb");
    if (!out) throw std::runtime_error("cannot create " + part);
    Write(out, "PPLRES2", 8);
    Write(out, &count, 4);
    for (uint32_t r = 0; r < count; ++r) {
      FeedOne(p, &reader);
      for (int k = 0; k < repeat; ++k) Check(ppl_run(p));
      WriteOutputs(p, out);
    }
    if (fclose(out) != 0) throw std::runtime_error("cannot write the responses file");
    out = nullptr;
    if (rename(part.c_str(), argv[3]) != 0) throw std::runtime_error(std::string("cannot rename to ") + argv[3]);
  } catch (const std::exception& e) {
    fprintf(stderr, "ppl_run error: %s\n", e.what());
    if (out) fclose(out);
    remove(part.c_str());
    return 1;
  }
  fclose(in);
  ppl_destroy(p);
  return 0;
}
