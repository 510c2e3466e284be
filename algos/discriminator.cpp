// The GAIfO discriminator with spectral norm and gradient penalty (see discriminator.h for the
// loss and for how the update's several forwards share one power iteration).
#include "algos/discriminator.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <type_traits>

#include "algos/train_ops.h"
#include "engine/checkpoint.h"
#include "engine/device_ops.h"
#include "engine/profile.h"
#include "kernels/ppo_loss.h"
#include "kernels/reduce.h"

namespace relmimic::algos {

namespace {
constexpr double kRewardEps = 1e-8;  // SPEC: r = -log(1 - D + 1e-8)

std::string key(const std::string& prefix, const char* name) {
  return prefix + "." + name;
}

std::string join(const int* v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

// "32,64,64,128,128" -> the listed positive integers.
std::vector<int> parse_positive_ints(const std::string& text, const std::string& k) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      RM_FAIL("config ", k, ": '", item, "' is not an integer (in '", text, "')");
    }
    RM_CHECK(used == item.size() && v > 0, "config ", k, ": '", item,
             "' is not a positive integer (in '", text, "')");
    out.push_back(v);
  }
  return out;
}

// "32,64,64,128,128" -> exactly N positive integers.
template <size_t N>
std::array<int, N> parse_ints(const std::string& text, const std::string& k) {
  const std::vector<int> v = parse_positive_ints(text, k);
  RM_CHECK(v.size() == N, "config ", k, " must list ", N, " integers, got '", text, "'");
  std::array<int, N> out{};
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

// One to eight layer widths.
std::vector<int> parse_widths(const std::string& text, const std::string& k) {
  std::vector<int> out = parse_positive_ints(text, k);
  RM_CHECK(!out.empty() && out.size() <= 8, "config ", k, " must list 1 to 8 layer widths, got '",
           text, "'");
  return out;
}

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// Throws naming the term when a loss value is not finite.
void check_value(double v, const char* term) {
  RM_CHECK(std::isfinite(v), "discriminator: ", term, " is not finite (", v,
           "); the logits or the gradient penalty overflowed");
}
}  // namespace

RewardConfig DiscriminatorConfig::net() const {
  RewardConfig r;
  r.frames = frames;
  r.height = height;
  r.width = width;
  r.relational = relational;
  r.channels = channels;
  r.embed = embed;
  r.slope = slope;
  r.penalty_on = penalty_on;
  r.max_batch = max_batch;
  r.seed = Rng::derive(seed, 0);
  r.device = device;
  return r;
}

StateRewardConfig DiscriminatorConfig::state_net() const {
  StateRewardConfig r;
  r.frames = frames;
  r.obs_dim = obs_dim;
  r.hidden = hidden;
  r.slope = slope;
  r.max_batch = max_batch;
  r.seed = Rng::derive(seed, 0);
  r.obs_mean = obs_mean;
  r.obs_std = obs_std;
  r.penalty_on = penalty_on;
  r.device = device;
  return r;
}

void declare_discriminator(Config& c, const std::string& p) {
  const DiscriminatorConfig d;
  c.add(key(p, "variant"), "relational",
        "reward net: relational (Table 3) | baseline (GAIfO, no relational blocks)");
  c.add(key(p, "frames"), d.frames, "frames k stacked per window");
  c.add(key(p, "frame_size"), d.height, "frame height = width");
  c.add(key(p, "channels"), join(d.channels.data(), 5), "conv widths of Table 3 rows 2,3,4,6,8");
  c.add(key(p, "embed"), join(d.embed.data(), 2), "relational widths C' of rows 5,7");
  c.add(key(p, "hidden"), join(d.hidden.data(), int(d.hidden.size())),
        "imitation from states: hidden widths of the MLP discriminator");
  c.add(key(p, "slope"), d.slope, "LeakyReLU negative slope");
  c.add(key(p, "max_batch"), d.max_batch, "windows per network pass (larger batches are chunked)");
  c.add(key(p, "lr"), d.lr, "Adam learning rate");
  c.add(key(p, "lambda"), d.lambda, "gradient-penalty weight");
  c.add(key(p, "penalty_on"), penalty_on_name(d.penalty_on),
        "gradient penalty on the gradient of: logit (the score, SPEC.md) | prob (sigmoid(logit))");
  c.add(key(p, "beta1"), d.beta1, "Adam beta1");
  c.add(key(p, "beta2"), d.beta2, "Adam beta2");
  c.add(key(p, "adam_eps"), d.adam_eps, "Adam epsilon");
  c.add(key(p, "max_grad_norm"), d.max_grad_norm, "global gradient-norm clip (0: off)");
}

DiscriminatorConfig discriminator_config(const Config& c, uint64_t seed, const std::string& p) {
  DiscriminatorConfig d;
  const std::string variant = c.get<std::string>(key(p, "variant"));
  RM_CHECK(variant == "relational" || variant == "baseline", "config ", key(p, "variant"),
           " must be relational or baseline, got '", variant, "'");
  d.relational = variant == "relational";
  d.frames = c.get<int>(key(p, "frames"));
  d.height = d.width = c.get<int>(key(p, "frame_size"));
  d.channels = parse_ints<5>(c.get<std::string>(key(p, "channels")), key(p, "channels"));
  d.embed = parse_ints<2>(c.get<std::string>(key(p, "embed")), key(p, "embed"));
  d.hidden = parse_widths(c.get<std::string>(key(p, "hidden")), key(p, "hidden"));
  d.slope = c.get<double>(key(p, "slope"));
  d.max_batch = c.get<int>(key(p, "max_batch"));
  d.lr = c.get<double>(key(p, "lr"));
  d.lambda = c.get<double>(key(p, "lambda"));
  const std::string penalty_on = c.get<std::string>(key(p, "penalty_on"));
  RM_CHECK(penalty_on == "logit" || penalty_on == "prob", "config ", key(p, "penalty_on"),
           " must be logit or prob, got '", penalty_on, "'");
  d.penalty_on = parse_penalty_on(penalty_on);
  d.beta1 = c.get<double>(key(p, "beta1"));
  d.beta2 = c.get<double>(key(p, "beta2"));
  d.adam_eps = c.get<double>(key(p, "adam_eps"));
  d.max_grad_norm = c.get<double>(key(p, "max_grad_norm"));
  d.seed = seed;
  RM_CHECK(d.frames > 0, "config ", key(p, "frames"), " must be positive, got ", d.frames);
  RM_CHECK(d.height > 0, "config ", key(p, "frame_size"), " must be positive, got ", d.height);
  RM_CHECK(d.max_batch > 0, "config ", key(p, "max_batch"), " must be positive, got ", d.max_batch);
  RM_CHECK(d.lr > 0, "config ", key(p, "lr"), " must be positive, got ", d.lr);
  RM_CHECK(d.lambda >= 0, "config ", key(p, "lambda"), " must be >= 0, got ", d.lambda);
  RM_CHECK(d.beta1 >= 0 && d.beta1 < 1, "config ", key(p, "beta1"), " must be in [0, 1), got ",
           d.beta1);
  RM_CHECK(d.beta2 >= 0 && d.beta2 < 1, "config ", key(p, "beta2"), " must be in [0, 1), got ",
           d.beta2);
  RM_CHECK(d.adam_eps > 0, "config ", key(p, "adam_eps"), " must be positive, got ", d.adam_eps);
  RM_CHECK(d.max_grad_norm >= 0, "config ", key(p, "max_grad_norm"), " must be >= 0, got ",
           d.max_grad_norm);
  return d;
}

// ---------------------------------------------------------------- Discriminator

namespace {
template <class T>
std::unique_ptr<DiscriminatorNet<T>> make_net(const DiscriminatorConfig& c) {
  if (c.states) return std::make_unique<StateRewardNet<T>>(c.state_net());
  return std::make_unique<RewardNet<T>>(c.net());
}
}  // namespace

template <class T>
Discriminator<T>::Discriminator(const DiscriminatorConfig& c)
    : cfg_(c),
      net_(make_net<T>(c)),
      state_net_(c.states ? static_cast<StateRewardNet<T>*>(net_.get()) : nullptr),
      adam_(net_->parameters(),
            kernels::AdamParams{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2, .eps = c.adam_eps}),
      rng_(Rng::derive(c.seed, 1)),
      per_(c.states ? long(c.frames) * c.obs_dim : long(c.frames) * c.height * c.width) {
  RM_CHECK(c.lambda >= 0 && std::isfinite(c.lambda),
           "discriminator: lambda must be finite and >= 0, got ", c.lambda);
  RM_CHECK(c.max_grad_norm >= 0, "discriminator: max_grad_norm must be >= 0 (0: off), got ",
           c.max_grad_norm);
  net_->set_training(false);  // u moves only in advance_power_iteration
  chunk_.resize(size_t(c.max_batch));
  dlogit_ = Tensor::zeros({c.max_batch, 1}, dtype_of<T>(), c.device);
  if (c.states) {
    x_hat_ = Tensor::zeros({c.max_batch, c.frames, c.obs_dim}, dtype_of<T>(), c.device);
    agent_x_.assign(size_t(c.max_batch * per_), T(0));
  } else {
    x_hat_ = Tensor::zeros({c.max_batch, c.frames, c.height, c.width}, dtype_of<T>(), c.device);
  }
  if (c.device.is_cuda()) {
    d_eps_ = Tensor::zeros({c.max_batch}, dtype_of<T>(), c.device);
  }
}

template <class T>
int Discriminator<T>::check_windows(const Tensor& t, const char* what) const {
  RM_CHECK(t.defined(), "discriminator: ", what, " windows are undefined");
  if (cfg_.states) {
    const Shape want{t.ndim() >= 1 ? t.dim(0) : 0, cfg_.frames, cfg_.obs_dim};
    RM_CHECK(t.shape() == want && t.dim(0) >= 1, "discriminator: ", what,
             " windows expected shape [B, ", cfg_.frames, ", ", cfg_.obs_dim,
             "] (k observations) with B >= 1, got ", t.shape().str());
    RM_CHECK(t.dtype() == DType::f32, "discriminator: ", what, " windows have dtype ",
             dtype_name(t.dtype()), ", expected f32 observations");
    RM_CHECK(t.device() == cfg_.device, "discriminator: ", what, " windows are on ",
             t.device().str(), ", expected ", cfg_.device.str());
    return int(t.dim(0));
  }
  const Shape want{t.ndim() >= 1 ? t.dim(0) : 0, cfg_.frames, cfg_.height, cfg_.width};
  RM_CHECK(t.shape() == want && t.dim(0) >= 1, "discriminator: ", what,
           " windows expected shape [B, ", cfg_.frames, ", ", cfg_.height, ", ", cfg_.width,
           "] with B >= 1, got ", t.shape().str());
  RM_CHECK(t.dtype() == DType::u8, "discriminator: ", what, " windows have dtype ",
           dtype_name(t.dtype()), ", expected u8 frames");
  RM_CHECK(t.device() == cfg_.device, "discriminator: ", what, " windows are on ", t.device().str(),
           ", expected ", cfg_.device.str(), " (the network's device)");
  return int(t.dim(0));
}

template <class T>
int Discriminator<T>::check_pair(const Tensor& expert, const Tensor& agent) const {
  const int B = check_windows(expert, "expert");
  RM_CHECK(check_windows(agent, "agent") == B, "discriminator: expert and agent batches differ (",
           B, " vs ", agent.dim(0), " windows); each update takes equal minibatches");
  return B;
}

template <class T>
void Discriminator<T>::advance_power_iteration(const Tensor& window) {
  // Its own region: the batch-1 forward would otherwise count among the update's "D forward"s.
  profile::ScopedRange range("D power iteration");
  net_->set_training(true);
  try {
    net_->forward(window);
  } catch (...) {
    net_->set_training(false);
    throw;
  }
  net_->set_training(false);
}

template <class T>
void Discriminator<T>::interpolate_states(const Tensor& expert, const Tensor& agent, const T* eps,
                                          T* x_hat) {
  const int c = int(expert.dim(0));
  state_net_->standardize(expert, x_hat);
  state_net_->standardize(agent, agent_x_.data());
  for (int b = 0; b < c; ++b) {
    const T e = eps[b];
    T* xh = x_hat + long(b) * per_;
    const T* xa = agent_x_.data() + long(b) * per_;
    for (long i = 0; i < per_; ++i) xh[i] = e * xa[i] + (T(1) - e) * xh[i];
  }
}

template <class T>
void Discriminator<T>::check_grads(const char* term) {
  ParamSet<T>& ps = net_->parameters();
  if (train_ops::all_finite(cfg_.device, ps.size(), ps.grads())) return;
  const std::vector<T> g = ps.grads_to_host();
  for (const auto& e : ps.entries())
    for (long i = 0; i < e.size; ++i)
      RM_CHECK(std::isfinite(double(g[size_t(e.offset + i)])), "discriminator: gradient of the ",
               term, " is not finite (", g[size_t(e.offset + i)], " in '", e.name, "'[", i, "])");
}

// Per chunk of c windows: mean BCE weighted by c / B, gradient (D - y) / B.
template <class T>
void Discriminator<T>::bce_term(const Tensor& frames, double label, bool accumulate_grad,
                                double& loss, double& accuracy, double& mean_d) {
  const int B = int(frames.dim(0));
  loss = accuracy = mean_d = 0;
  for (int b0 = 0; b0 < B; b0 += cfg_.max_batch) {
    const int c = std::min(cfg_.max_batch, B - b0);
    const Device dev = cfg_.device;
    Tensor logit = net_->forward(frames.slice(b0, b0 + c));
    const T* l = logit.data<T>();
    T* d = dlogit_.data<T>();
    const kernels::BceStats s = train_ops::sigmoid_bce(dev, c, l, label, d);
    const double w = double(c) / B;
    loss += s.loss * w;
    accuracy += s.accuracy * w;
    if (!dev.is_cpu()) {  // the c logits to the host for the mean D
      ops::copy_to_host(dev, chunk_.data(), l, sizeof(T) * size_t(c));
      l = chunk_.data();
    }
    for (int i = 0; i < c; ++i) mean_d += sigmoid(double(l[i])) / B;
    if (accumulate_grad) {
      ops::scale(dev, c, T(w), d);
      net_->backward_params(dlogit_.slice(0, c));
    }
  }
}

template <class T>
UpdateStats Discriminator<T>::compute_loss(const Tensor& expert, const Tensor& agent, const T* eps,
                                           bool accumulate_grad) {
  const int B = check_pair(expert, agent);
  RM_CHECK(eps != nullptr, "discriminator: interpolation weights are null");
  for (int b = 0; b < B; ++b)
    RM_CHECK(eps[b] >= 0 && eps[b] <= 1, "discriminator: interpolation weight ", b, " is ", eps[b],
             ", expected [0, 1]");
  ParamSet<T>& ps = net_->parameters();
  if (accumulate_grad) ps.zero_grad();
  UpdateStats st;

  bce_term(expert, 1.0, accumulate_grad, st.expert_loss, st.expert_accuracy, st.expert_d);
  check_value(st.expert_loss, "expert cross-entropy");
  if (accumulate_grad) check_grads("expert cross-entropy");

  bce_term(agent, 0.0, accumulate_grad, st.agent_loss, st.agent_accuracy, st.agent_d);
  check_value(st.agent_loss, "agent cross-entropy");
  if (accumulate_grad) check_grads("agent cross-entropy");

  // x_hat = (eps x_agent + (1 - eps) x_expert) / 255; a chunk of c samples carries the weight
  // lambda c / B so the chunks sum to lambda * mean over the batch.
  if (cfg_.lambda > 0 && cfg_.states) {
    for (int b0 = 0; b0 < B; b0 += cfg_.max_batch) {
      const int c = std::min(cfg_.max_batch, B - b0);
      interpolate_states(expert.slice(b0, b0 + c), agent.slice(b0, b0 + c), eps + b0,
                         x_hat_.data<T>());
      double norm = 0;
      st.penalty +=
          net_->gradient_penalty(x_hat_.slice(0, c), cfg_.lambda * c / B, accumulate_grad, &norm);
      st.logit_grad_norm += norm * c / B;
    }
  } else if (cfg_.lambda > 0) {
    const uint8_t* xe = expert.data<uint8_t>();
    const uint8_t* xa = agent.data<uint8_t>();
    for (int b0 = 0; b0 < B; b0 += cfg_.max_batch) {
      const int c = std::min(cfg_.max_batch, B - b0);
      T* xh = x_hat_.data<T>();
      if (cfg_.device.is_cpu()) {
        for (int b = 0; b < c; ++b) {
          const double e = double(eps[b0 + b]);
          const long o = long(b0 + b) * per_;
          for (long i = 0; i < per_; ++i)
            xh[b * per_ + i] = T((e * xa[o + i] + (1 - e) * xe[o + i]) / 255.0);
        }
      } else {  // eps stays a host array; the chunk's weights go to the device
        ops::copy_from_host(cfg_.device, d_eps_.raw(), eps + b0, sizeof(T) * size_t(c));
        train_ops::interpolate_frames(cfg_.device, c, per_, d_eps_.data<T>(), xa + long(b0) * per_,
                                      xe + long(b0) * per_, xh);
      }
      double norm = 0;
      st.penalty +=
          net_->gradient_penalty(x_hat_.slice(0, c), cfg_.lambda * c / B, accumulate_grad, &norm);
      st.logit_grad_norm += norm * c / B;
    }
  } else {
    st.logit_grad_norm = NAN;
  }
  check_value(st.penalty, "gradient penalty");
  if (accumulate_grad) check_grads("gradient penalty");
  st.loss = st.expert_loss + st.agent_loss + st.penalty;
  return st;
}

template <class T>
UpdateStats Discriminator<T>::update(const Tensor& expert, const Tensor& agent,
                                     const GradientHook& hook) {
  const int B = check_pair(expert, agent);  // before anything changes state
  eps_.resize(size_t(B));
  for (T& e : eps_) e = T(rng_.uniform());
  advance_power_iteration(expert.slice(0, 1));
  UpdateStats st = compute_loss(expert, agent, eps_.data(), true);

  ParamSet<T>& ps = net_->parameters();
  if (hook) {
    hook(ps.grads(), ps.size());
    check_grads("loss after the gradient hook (all-reduce)");
  }
  st.grad_norm = clip_grad_norm(ps, cfg_.max_grad_norm);
  adam_.step();
  return st;
}

template <class T>
void Discriminator<T>::logits(const Tensor& states, T* out) {
  const int B = check_windows(states, "scored");
  RM_CHECK(out != nullptr, "discriminator: logits output is null");
  for (int b0 = 0; b0 < B; b0 += cfg_.max_batch) {
    const int c = std::min(cfg_.max_batch, B - b0);
    Tensor l = net_->forward(states.slice(b0, b0 + c));  // eval mode: u stays
    ops::copy_to_host(cfg_.device, out + b0, l.raw(), sizeof(T) * size_t(c));
  }
}

template <class T>
void Discriminator<T>::reward(const Tensor& states, float* r_out) {
  const int B = check_windows(states, "reward");
  RM_CHECK(r_out != nullptr, "discriminator: reward output is null");
  for (int b0 = 0; b0 < B; b0 += cfg_.max_batch) {
    const int c = std::min(cfg_.max_batch, B - b0);
    Tensor l = net_->forward(states.slice(b0, b0 + c));
    if (cfg_.device.is_cpu()) {
      kernels::discriminator_reward_cpu(c, l.data<T>(), chunk_.data(), kRewardEps);
      for (int i = 0; i < c; ++i) r_out[b0 + i] = float(chunk_[size_t(i)]);
    } else if constexpr (std::is_same_v<T, float>) {  // straight into the device output
      train_ops::discriminator_reward(cfg_.device, c, l.data<T>(), r_out + b0, kRewardEps);
    } else {
      RM_FAIL("discriminator: reward on ", cfg_.device.str(), " needs float parameters");
    }
  }
}

template <class T>
void Discriminator<T>::save(CheckpointWriter& w, const std::string& name) {
  w.add_params(name, net_->parameters(), &net_->buffers());
  w.add_adam(name, adam_);
  w.add_rng(name + ".interpolation", rng_);
}

template <class T>
void Discriminator<T>::load(CheckpointReader& r, const std::string& name) {
  r.load_params(name, net_->parameters(), &net_->buffers());
  r.load_adam(name, adam_);
  r.load_rng(name + ".interpolation", rng_);
}

template class Discriminator<float>;
template class Discriminator<double>;

}  // namespace relmimic::algos
