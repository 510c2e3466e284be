// Imitation checkpoints: one file, written by rank 0, that resumes every learner exactly.
//
// Layout: a PPO checkpoint (engine/checkpoint.h, algos/ppo_state.cpp: kind "ppo", "config" = the
// PPO settings with rank 0's learner seed, policy, value, rank 0's envs and RNG streams), so
// `relmimic eval` reads it, plus
//   /@run_kind = "imitate", /@imitate_config (the whole config JSON), /@variant, /@learners
//   /discriminator/...                      parameters, spectral-norm u, Adam (rank 0's = all)
//   /rng/discriminator.interpolation, /rng/expert, /rng/disc_shuffle   rank 0's own streams
//   /rng/disc_shift                          the same, imitate.disc_shift > 0 only
//   /eval/<mode> [n], /@eval_total_<mode>,  each evaluation mode's window (rank 0); mode
//     /@eval_window_<mode>                   deterministic or stochastic
//   /@best_eval_return                       the best evaluation mean so far (-inf: none yet)
//   /imitate_reward_norm/mean, /var [1] (@count), /running [N]
//                                            the D reward's return normaliser (rank 0's;
//                                            imitate.reward_norm = return_std only)
//   /imitate/obs_windows [N, k * D] float32  imitation from states: rank 0's envs' last k raw
//                                            observations (the agent's next window continues
//                                            them)
//   /learners/<r>  uint8 [bytes]             learner r >= 1: its own state as an embedded HDF5
//                                            file (a PPO checkpoint without networks + its
//                                            discriminator, expert, shuffle and shift streams, its
//                                            reward normaliser and, from states, its
//                                            /imitate/obs_windows)
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include "algos/imitate.h"
#include "engine/checkpoint.h"
#include "kernels/common.h"

namespace fs = std::filesystem;

namespace relmimic::algos {

namespace {
std::string temp_file(int rank) {
  return (fs::temp_directory_path() /
          ("relmimic-learner-" + std::to_string(getpid()) + "-" + std::to_string(rank) + ".h5"))
      .string();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  RM_CHECK(f.good(), "cannot read ", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const uint8_t* data, long n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(n));
  f.close();
  RM_CHECK(f.good(), "cannot write ", path);
}

std::string learner_path(int r) {
  return "learners/" + std::to_string(r);
}

const char* const kRewardNorm = "imitate_reward_norm";

void save_reward_norm(h5::File& f, const ReturnNormalizer& n) {
  const std::string g = kRewardNorm;
  f.write(g + "/mean", n.stats().mean());
  f.write(g + "/var", n.stats().var());
  f.set_attr(g + "/mean", "count", n.stats().count());
  f.write(g + "/running", n.running());
}

void load_reward_norm(const h5::File& f, ReturnNormalizer& n) {
  const std::string g = kRewardNorm;
  RM_CHECK(f.exists(g + "/mean"), f.path(),
           ": checkpoint has no reward normaliser; it was saved with imitate.reward_norm=none");
  auto read = [&](const std::string& name, long count) {
    const Tensor t = f.read(g + "/" + name);
    RM_CHECK(t.dtype() == DType::f64 && t.numel() == count, f.path(), ": ", g, "/", name, " has ",
             t.numel(), " values, expected ", count);
    return std::vector<double>(t.data<double>(), t.data<double>() + t.numel());
  };
  n.stats().set_state(read("mean", 1), read("var", 1), f.attr_double(g + "/mean", "count"));
  n.set_running(read("running", n.envs()));
}

constexpr const char* kObsWindows = "imitate/obs_windows";

void save_obs_windows(h5::File& f, const std::vector<float>& w, int envs) {
  if (w.empty()) return;
  f.write(kObsWindows,
          Tensor::view(const_cast<float*>(w.data()), {envs, int64_t(w.size()) / envs}, DType::f32));
}

void load_obs_windows(const h5::File& f, std::vector<float>& w) {
  if (w.empty()) return;
  RM_CHECK(f.exists(kObsWindows), f.path(),
           ": checkpoint has no observation windows (not a run imitating from states)");
  const Tensor t = f.read(kObsWindows);
  RM_CHECK(t.dtype() == DType::f32 && size_t(t.numel()) == w.size(), f.path(), ": ", kObsWindows,
           " has shape ", t.shape().str(), ", expected ", w.size(), " float values");
  std::copy(t.data<float>(), t.data<float>() + t.numel(), w.begin());
}
}  // namespace

// The trainer's own sampling streams (the shift stream only when imitate.disc_shift is on).
void ImitationTrainer::save_streams(CheckpointWriter& w) const {
  w.add_rng("expert", expert_rng_);
  w.add_rng("disc_shuffle", shuffle_rng_);
  if (s_.disc_shift > 0) w.add_rng("disc_shift", shift_rng_);
}

void ImitationTrainer::load_streams(CheckpointReader& r) {
  r.load_rng("expert", expert_rng_);
  r.load_rng("disc_shuffle", shuffle_rng_);
  if (s_.disc_shift > 0) r.load_rng("disc_shift", shift_rng_);
}

void ImitationTrainer::save_learner(const std::string& path) const {
  CheckpointWriter w(path);
  ppo_->save(w, false);
  w.add_rng("discriminator.interpolation", disc_->interpolation_rng());
  save_streams(w);
  if (reward_norm_) save_reward_norm(w.file(), *reward_norm_);
  save_obs_windows(w.file(), obs_stack_, s_.ppo.num_envs);
  w.set_counter("rank", comm_.rank());
  w.commit();
}

void ImitationTrainer::load_learner(CheckpointReader& r) {
  RM_CHECK(r.counter("rank") == comm_.rank(), r.file().path(), ": learner state of rank ",
           r.counter("rank"), " given to rank ", comm_.rank());
  ppo_->load(r, false);
  r.load_rng("discriminator.interpolation", disc_->interpolation_rng());
  load_streams(r);
  if (reward_norm_) load_reward_norm(r.file(), *reward_norm_);
  load_obs_windows(r.file(), obs_stack_);
}

void ImitationTrainer::save(const std::string& path, double wall_seconds) {
  const int size = comm_.size(), rank = comm_.rank();
  // Learners 1.. send their own state to rank 0 (one broadcast from each).
  std::vector<uint8_t> mine;
  if (rank != 0) {
    const std::string tmp = temp_file(rank);
    save_learner(tmp);
    mine = read_bytes(tmp);
    fs::remove(tmp);
  }
  std::vector<int64_t> sizes(size_t(size), 0);
  sizes[size_t(rank)] = int64_t(mine.size());
  comm_.allreduce_sum(sizes.data(), size);
  std::vector<std::vector<uint8_t>> images(static_cast<size_t>(size));
  for (int r = 1; r < size; ++r) {
    std::vector<uint8_t> buf = rank == r ? mine : std::vector<uint8_t>(size_t(sizes[size_t(r)]));
    comm_.broadcast(buf.data(), long(buf.size()), r);
    if (rank == 0) images[size_t(r)] = std::move(buf);
  }

  if (rank == 0) {
    CheckpointWriter w(path);
    ppo_->save(w);
    w.set_string("run_kind", "imitate");
    w.set_string("imitate_config", cfg_.dump());
    w.set_string("variant", variant_name(s_.variant));
    w.set_counter("learners", size);
    disc_->save(w, "discriminator");
    save_streams(w);
    h5::File& f = w.file();
    save_obs_windows(f, obs_stack_, s_.ppo.num_envs);
    eval_->save(f);
    if (reward_norm_) save_reward_norm(f, *reward_norm_);
    for (int r = 1; r < size; ++r) {
      std::vector<uint8_t>& img = images[size_t(r)];
      f.write(learner_path(r), Tensor::view(img.data(), {int64_t(img.size())}, DType::u8));
    }
    f.set_attr("/", "wall_seconds", wall_seconds);
    w.commit();
  }
  comm_.barrier();  // every learner returns once the checkpoint is in place
}

void ImitationTrainer::load(const std::string& path) {
  CheckpointReader r(path);
  const h5::File& f = r.file();
  RM_CHECK(f.has_attr("/", "run_kind") && r.string("run_kind") == "imitate", path,
           ": not an imitation checkpoint");
  RM_CHECK(r.counter("learners") == comm_.size(), path, ": the run had ", r.counter("learners"),
           " learner(s), this one has ", comm_.size(), " (resume with mpirun -np ",
           r.counter("learners"), ")");
  ppo_->load(r);
  disc_->load(r, "discriminator");
  load_streams(r);
  if (reward_norm_) load_reward_norm(f, *reward_norm_);
  if (comm_.is_root()) load_obs_windows(f, obs_stack_);
  eval_->load(f);
  if (!comm_.is_root()) {
    const std::string p = learner_path(comm_.rank());
    RM_CHECK(f.exists(p), path, ": no state for learner ", comm_.rank());
    const Tensor img = f.read(p);
    const std::string tmp = temp_file(comm_.rank());
    write_bytes(tmp, img.data<uint8_t>(), img.numel());
    try {
      CheckpointReader lr(tmp);
      load_learner(lr);
    } catch (...) {
      fs::remove(tmp);
      throw;
    }
    fs::remove(tmp);
  }
}

}  // namespace relmimic::algos
