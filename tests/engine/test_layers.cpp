// Layers vs central finite differences (double): backward for inputs and parameters, jvp and
// backward_jvp for the reward net's layers; counts, init and input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using testing::check_backward;
using testing::check_backward_jvp;
using testing::check_jvp;
using testing::fns;
using testing::random_tensor;
using testing::World;
using Act = kernels::Act;

Conv2d<double>::Options conv_opts(bool sn) {
  Conv2d<double>::Options o{
      .in_c = 2, .in_h = 5, .in_w = 6, .out_c = 3, .kernel = 3, .stride = 2, .pad = 1};
  o.spectral_norm = sn;
  return o;
}

class Conv2dTest : public ::testing::TestWithParam<bool> {};

TEST_P(Conv2dTest, BackwardMatchesFiniteDifferences) {
  World w(2);
  Rng rng(11);
  Conv2d<double> conv(w.build, "c", conv_opts(GetParam()), rng);
  conv.set_training(false);  // u fixed: the function is W -> conv(x, W / sigma(W))
  Tensor x = random_tensor({2, 2, 5, 6}, rng);
  // A non-zero bias so that its gradient is checked at a generic point.
  testing::fill_uniform(w.params.value(conv.bias_slot()), 3, rng);
  check_backward(fns(conv), w.params, x, rng);
}

TEST_P(Conv2dTest, JvpAndBackwardJvpMatchFiniteDifferences) {
  World w(2);
  Rng rng(12);
  Conv2d<double> conv(w.build, "c", conv_opts(GetParam()), rng);
  conv.set_training(false);
  Tensor x = random_tensor({2, 2, 5, 6}, rng);
  Tensor t = random_tensor({2, 2, 5, 6}, rng);
  check_jvp(fns(conv), x, t);
  check_backward_jvp(fns(conv), w.params, x, t, rng);
  testing::check_backward_jvp_shortcuts(fns(conv), w.params, x, t, rng);
}

INSTANTIATE_TEST_SUITE_P(SpectralNorm, Conv2dTest, ::testing::Bool());

class LinearTest : public ::testing::TestWithParam<bool> {};

TEST_P(LinearTest, BackwardJvpAndBackwardJvpMatchFiniteDifferences) {
  World w(3);
  Rng rng(13);
  Linear<double> fc(w.build, "fc", {.in = 6, .out = 4, .spectral_norm = GetParam()}, rng);
  fc.set_training(false);
  testing::fill_uniform(w.params.value(fc.bias_slot()), 4, rng);
  Tensor x = random_tensor({3, 2, 3}, rng);  // flattened to [3, 6]
  check_backward(fns(fc), w.params, x, rng);
  Tensor t = random_tensor({3, 2, 3}, rng);
  check_jvp(fns(fc), x, t);
  check_backward_jvp(fns(fc), w.params, x, t, rng);
  testing::check_backward_jvp_shortcuts(fns(fc), w.params, x, t, rng);
}

INSTANTIATE_TEST_SUITE_P(SpectralNorm, LinearTest, ::testing::Bool());

TEST(Linear, BackwardReturnsTheInputShape) {
  World w(2);
  Rng rng(1);
  Linear<double> fc(w.build, "fc", {.in = 12, .out = 2}, rng);
  Tensor x = random_tensor({2, 3, 2, 2}, rng);
  Tensor y = fc.forward(x);
  EXPECT_EQ(y.shape(), Shape({2, 2}));
  EXPECT_EQ(fc.backward(random_tensor({2, 2}, rng)).shape(), x.shape());
}

class ActivationTest : public ::testing::TestWithParam<Act> {};

TEST_P(ActivationTest, AllPassesMatchFiniteDifferences) {
  World w(2);
  Rng rng(14);
  Activation<double> act(w.build, GetParam(), 7, 0.1);
  Tensor x = random_tensor({2, 7}, rng, -2.0, 2.0);
  check_backward(fns(act), w.params, x, rng);
  Tensor t = random_tensor({2, 7}, rng);
  check_jvp(fns(act), x, t);
  check_backward_jvp(fns(act), w.params, x, t, rng);
  testing::check_backward_jvp_shortcuts(fns(act), w.params, x, t, rng);
}

INSTANTIATE_TEST_SUITE_P(Kinds, ActivationTest,
                         ::testing::Values(Act::Identity, Act::ReLU, Act::LeakyReLU, Act::Tanh,
                                           Act::Sigmoid),
                         [](const auto& info) {
                           return std::string(kernels::act_name(info.param));
                         });

TEST(Activation, LeakyReluUsesItsSlope) {
  World w(1);
  Activation<double> act(w.build, Act::LeakyReLU, 2, 0.1);
  Tensor x = Tensor::zeros({1, 2}, DType::f64);
  x.data<double>()[0] = -3.0;
  x.data<double>()[1] = 2.0;
  Tensor y = act.forward(x);
  EXPECT_DOUBLE_EQ(y.data<double>()[0], -0.3);
  EXPECT_DOUBLE_EQ(y.data<double>()[1], 2.0);
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  World w(3);
  Rng rng(15);
  LayerNorm<double> ln(w.build, "ln", 5);
  testing::fill_uniform(w.params.values(), w.params.size(), rng, 0.5, 1.5);
  Tensor x = random_tensor({3, 5}, rng);
  check_backward(fns(ln), w.params, x, rng);
  EXPECT_EQ(ln.params(), 10);
}

TEST(MaxPool3D, BackwardMatchesFiniteDifferences) {
  World w(2);
  Rng rng(16);
  // The agent's row 3 window on a small map: (2, 3, 3), stride (2, 2, 2), pad (0, 1, 1).
  MaxPool3D<double> pool(w.build, {.c = 4,
                                   .h = 5,
                                   .w = 5,
                                   .kc = 2,
                                   .kh = 3,
                                   .kw = 3,
                                   .sc = 2,
                                   .sh = 2,
                                   .sw = 2,
                                   .pc = 0,
                                   .ph = 1,
                                   .pw = 1});
  EXPECT_EQ(pool.out_shape(2), Shape({2, 2, 3, 3}));
  Tensor x = random_tensor({2, 4, 5, 5}, rng);
  check_backward(fns(pool), w.params, x, rng);
}

TEST(ResidualBlock, BackwardMatchesFiniteDifferences) {
  World w(2);
  Rng rng(17);
  ResidualBlock<double> rb(w.build, "rb", 4, 3, 4, rng);
  testing::fill_uniform(w.params.values(), w.params.size(), rng, -0.5, 0.5);
  Tensor x = random_tensor({2, 4, 3, 4}, rng);
  check_backward(fns(rb), w.params, x, rng);
}

TEST(ResidualBlock, ComputesXPlusTheBottleneck) {
  World w(1);
  Rng rng(18);
  ResidualBlock<double> rb(w.build, "rb", 2, 1, 1, rng);
  // conv0: 2 -> 1, conv1: 1 -> 1 (3x3, only the centre tap sees a 1x1 map), conv2: 1 -> 2.
  double* p = w.params.values();
  const double vals[] = {1.0, 2.0,  0.5,                              // conv0 w, b
                         0,   0,    0,    0,  3.0, 0, 0, 0, 0, -1.0,  // conv1 w, b
                         1.0, -2.0, 0.25, 0.0};                       // conv2 w, b
  ASSERT_EQ(w.params.size(), long(std::size(vals)));
  std::copy(std::begin(vals), std::end(vals), p);
  Tensor x = Tensor::zeros({1, 2, 1, 1}, DType::f64);
  x.data<double>()[0] = 1.0;
  x.data<double>()[1] = -4.0;
  Tensor y = rb.forward(x);
  // relu(x) = (1, 0); h0 = 1*1 + 0.5 = 1.5; h1 = 3*1.5 - 1 = 3.5; out = (3.5 + .25, -7) + x.
  EXPECT_DOUBLE_EQ(y.data<double>()[0], 1.0 + 3.75);
  EXPECT_DOUBLE_EQ(y.data<double>()[1], -4.0 - 7.0);
}

// After a ReLU (the agent torso's rows 3 and 7), a block built with input_from_relu skips its
// first ReLU: the composition ReLU -> block gives the same bits, forward and backward (the input
// gradient through the ReLU, every weight gradient), as with the block's own first ReLU.
TEST(ResidualBlock, SkippingTheFirstReluAfterAReluKeepsTheBits) {
  struct Net {
    World w{3};
    Rng rng{23};
    Activation<double> relu{w.build, Act::ReLU, 4 * 5 * 5};
    ResidualBlock<double> rb;
    explicit Net(bool skip) : rb(w.build, "rb", 4, 5, 5, rng, skip) {}
  };
  Net plain(false), skipping(true);
  ASSERT_EQ(plain.w.params.size(), skipping.w.params.size());
  EXPECT_EQ(plain.rb.flops(), skipping.rb.flops());
  Rng rng(29);
  // Inputs with exact zeros and negatives, so that the ReLU's zeros matter.
  Tensor x = random_tensor({3, 4, 5, 5}, rng);
  for (long i = 0; i < x.numel(); i += 7) x.data<double>()[i] = 0.0;
  const Tensor dy = random_tensor({3, 4, 5, 5}, rng);
  std::vector<double> out[2], dx[2], grads[2];
  Net* nets[2] = {&plain, &skipping};
  for (int k = 0; k < 2; ++k) {
    Net& n = *nets[k];
    testing::fill_uniform(n.w.params.values(), n.w.params.size(), rng, -0.5, 0.5);
    if (k == 1)  // the same weights as the plain block
      std::copy(plain.w.params.values(), plain.w.params.values() + plain.w.params.size(),
                n.w.params.values());
    n.w.params.zero_grad();
    out[k] = testing::to_vector(n.rb.forward(n.relu.forward(x)));
    dx[k] = testing::to_vector(n.relu.backward(n.rb.backward(dy)));
    grads[k].assign(n.w.params.grads(), n.w.params.grads() + n.w.params.size());
  }
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(dx[0], dx[1]);
  EXPECT_EQ(grads[0], grads[1]);
  // The block's own input gradient is where they differ: without the ReLU's mask.
  EXPECT_NE(testing::to_vector(plain.rb.backward(dy)),
            testing::to_vector(skipping.rb.backward(dy)));
}

TEST(Layers, ParameterCountsOfThePaperBlocks) {
  World w(1, false);
  Rng rng(1);
  ResidualBlock<double> rb16(w.build, "rb16", 16, 21, 21, rng);
  ResidualBlock<double> rb8(w.build, "rb8", 8, 21, 21, rng);
  RelationalBlock<double> rel(w.build, "rel",
                              {.channels = 16, .height = 21, .width = 21, .embed = 2}, rng);
  EXPECT_EQ(rb16.params(), 864);  // 16*8+8 + 8*8*9+8 + 8*16+16
  EXPECT_EQ(rb8.params(), 224);   // 8*4+4 + 4*4*9+4 + 4*8+8
  EXPECT_EQ(rel.params(), 150);   // 3 (16*2+2) + 2*16+16
  EXPECT_EQ(w.params.size(), 864 + 224 + 150);
}

TEST(Standardize, DividesBy255) {
  World w(2);
  Standardize<double> st(w.build, 3);
  Tensor x = Tensor::zeros({2, 3}, DType::u8);
  const uint8_t v[] = {0, 1, 255, 128, 17, 254};
  std::copy(std::begin(v), std::end(v), x.data<uint8_t>());
  Tensor y = st.forward(x);
  ASSERT_EQ(y.shape(), x.shape());
  for (int i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(y.data<double>()[i], v[i] / 255.0);
  EXPECT_THROW(st.forward(Tensor::zeros({2, 3}, DType::f64)), Error);
}

void expect_orthogonal(int rows, int cols, double gain) {
  Rng rng(uint64_t(rows * 100 + cols));
  std::vector<double> w(static_cast<size_t>(rows) * cols);
  orthogonal_init(w.data(), rows, cols, gain, rng);
  // Gram matrix over the smaller dimension must be gain^2 I.
  const bool tall = rows >= cols;
  const int m = tall ? cols : rows, n = tall ? rows : cols;
  double worst = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) {
      double s = 0;
      for (int k = 0; k < n; ++k)
        s += tall ? w[size_t(k) * cols + i] * w[size_t(k) * cols + j]
                  : w[size_t(i) * cols + k] * w[size_t(j) * cols + k];
      worst = std::max(worst, std::abs(s - (i == j ? gain * gain : 0.0)));
    }
  EXPECT_LT(worst, 1e-12) << rows << "x" << cols;
}

TEST(OrthogonalInit, RowsOrColumnsAreOrthonormalTimesGain) {
  expect_orthogonal(5, 3, 1.0);
  expect_orthogonal(3, 7, std::sqrt(2.0));
  expect_orthogonal(4, 4, 0.01);
  expect_orthogonal(1, 9, 1.0);
}

TEST(OrthogonalInit, DependsOnTheSeedOnly) {
  std::vector<double> a(12), b(12), c(12);
  Rng r1(5), r2(5), r3(6);
  orthogonal_init(a.data(), 3, 4, 1.0, r1);
  orthogonal_init(b.data(), 3, 4, 1.0, r2);
  orthogonal_init(c.data(), 3, 4, 1.0, r3);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Checks that `f` throws a relmimic::Error whose message contains `needle`.
template <class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Layers, BadInputsGiveClearErrors) {
  World w(2, false);
  Rng rng(2);
  Conv2d<double> conv(w.build, "c", conv_opts(false), rng);
  expect_error(
      [&] {
        conv.backward(Tensor::zeros({2, 3, 3, 3}, DType::f64));
      },
      "backward before forward");
  expect_error([&] { conv.forward(Tensor::zeros({2, 2, 5, 5}, DType::f64)); }, "expected shape");
  expect_error(
      [&] {
        conv.forward(Tensor::zeros({3, 2, 5, 6}, DType::f64));
      },
      "exceeds max_batch 2");
  expect_error([&] { conv.forward(Tensor::zeros({2, 2, 5, 6}, DType::f32)); }, "dtype float32");
  Tensor x = Tensor::zeros({2, 2, 5, 6}, DType::f64);
  conv.forward(x);
  expect_error([&] { conv.backward(Tensor::zeros({2, 3, 3, 2}, DType::f64)); }, "dy expected");
  expect_error([&] { conv.jvp(x); }, "second_order");
  expect_error(
      [&] {
        Conv2d<double>(w.build, "k", {.in_c = 1, .in_h = 2, .in_w = 2, .out_c = 1, .kernel = 5},
                       rng);
      },
      "larger than the padded input");
  Linear<double> fc(w.build, "fc", {.in = 4, .out = 2}, rng);
  expect_error([&] { fc.forward(Tensor::zeros({2, 5}, DType::f64)); }, "expected 4");
  expect_error([&] { ResidualBlock<double>(w.build, "odd", 3, 2, 2, rng); }, "even");
}

}  // namespace
}  // namespace relmimic
