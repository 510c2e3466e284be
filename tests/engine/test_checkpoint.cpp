#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/checkpoint.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using relmimic::testing::error_of;

std::string tmp_path(const std::string& name) {
  return testing::tmp_path("ckpt_" + name);
}

// A small two-tensor "network": conv.w [4, 2, 3, 3], conv.b [4], and one buffer.
template <class T>
void build(ParamSet<T>& ps, ParamSet<T>& buf, int out = 4) {
  ps.add("conv/w", {out, 2, 3, 3});
  ps.add("conv/b", {out});
  ps.finalize();
  buf.add("conv/sn_u", {out});
  buf.finalize();
}

TEST(Checkpoint, RoundTripsParamsAdamRngAndCounters) {
  const std::string path = tmp_path("roundtrip.h5");
  ParamSet<float> ps, buf;
  build(ps, buf);
  Rng rng(7);
  for (long i = 0; i < ps.size(); ++i) ps.values()[i] = float(rng.normal());
  for (long i = 0; i < buf.size(); ++i) buf.values()[i] = float(rng.uniform());
  Adam<float> adam(ps, {.lr = 1e-3});
  for (long i = 0; i < ps.size(); ++i) {
    adam.m()[size_t(i)] = float(i);
    adam.v()[size_t(i)] = float(2 * i);
  }
  adam.set_steps(17);
  Rng stream(123);
  stream.normal();  // leaves a cached normal in the state
  {
    CheckpointWriter w(path);
    w.add_params("policy", ps, &buf);
    w.add_adam("policy", adam);
    w.add_rng("main", stream);
    w.set_counter("timesteps", 123456789012L);
    w.set_string("config", "{\"seed\": 3}");
    w.commit();
  }
  ParamSet<float> ps2, buf2;
  build(ps2, buf2);
  Adam<float> adam2(ps2);
  Rng stream2(0);
  CheckpointReader r(path);
  r.load_params("policy", ps2, &buf2);
  r.load_adam("policy", adam2);
  r.load_rng("main", stream2);
  for (long i = 0; i < ps.size(); ++i) EXPECT_EQ(ps2.values()[i], ps.values()[i]);
  for (long i = 0; i < buf.size(); ++i) EXPECT_EQ(buf2.values()[i], buf.values()[i]);
  EXPECT_EQ(adam2.steps(), 17);
  EXPECT_EQ(adam2.m(), adam.m());
  EXPECT_EQ(adam2.v(), adam.v());
  // The restored stream continues exactly where the saved one was.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(stream2.normal(), stream.normal());
  EXPECT_EQ(r.counter("timesteps"), 123456789012L);
  EXPECT_EQ(r.string("config"), "{\"seed\": 3}");

  // A float checkpoint loads into a double network of the same architecture.
  ParamSet<double> psd, bufd;
  build(psd, bufd);
  r.load_params("policy", psd, &bufd);
  for (long i = 0; i < ps.size(); ++i) EXPECT_EQ(psd.values()[i], double(ps.values()[i]));
  std::filesystem::remove(path);
}

TEST(Checkpoint, DifferentArchitectureNamesTheDifference) {
  const std::string path = tmp_path("arch.h5");
  ParamSet<float> ps, buf;
  build(ps, buf, 4);
  {
    CheckpointWriter w(path);
    w.add_params("policy", ps, &buf);
    w.commit();
  }
  ParamSet<float> other, obuf;
  build(other, obuf, 8);
  CheckpointReader r(path);
  const std::string msg = error_of([&] { r.load_params("policy", other, &obuf); });
  EXPECT_NE(msg.find("architecture differs in 'policy' params #0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("conv/w[4, 2, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("conv/w[8, 2, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { r.load_params("value", other); }).find("no network 'value'"),
            std::string::npos);
  ParamSet<float> bigger;
  bigger.add("conv/w", {4, 2, 3, 3});
  bigger.add("conv/b", {4});
  bigger.add("fc/w", {2, 2});
  bigger.finalize();
  EXPECT_NE(error_of([&] {
              r.load_params("policy", bigger);
            }).find("checkpoint has nothing, this network has fc/w[2, 2]"),
            std::string::npos);
  std::filesystem::remove(path);
}

TEST(Checkpoint, CorruptOrForeignFilesAreRejected) {
  const std::string path = tmp_path("corrupt.h5");
  ParamSet<float> ps, buf;
  build(ps, buf);
  {
    CheckpointWriter w(path);
    w.add_params("policy", ps, &buf);
    w.commit();
  }
  // Truncate the file: opening or reading it must fail with a one-line message.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  std::string msg = error_of([&] {
    CheckpointReader r(path);
    r.load_params("policy", ps, &buf);
  });
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  // An HDF5 file that is not a checkpoint.
  {
    h5::File f = h5::File::create(path);
    f.write("x", Tensor::zeros({1}, DType::f32));
  }
  EXPECT_NE(error_of([&] { CheckpointReader r(path); }).find("not a relmimic checkpoint"),
            std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace relmimic
