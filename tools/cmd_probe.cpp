// `relmimic probe`: what does a trained discriminator look at? D's mean score on expert windows,
// on the same windows with every slot replaced by the newest frame (no motion) and with their
// slots shuffled (algos/probe.h). One table, or CSV.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "algos/probe.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {
std::string csv_of(const std::vector<algos::ProbeRow>& rows) {
  std::string s = "windows_kind,windows,mean_d,mean_logit,std_logit,logit_minus_expert\n";
  char buf[256];
  for (const algos::ProbeRow& r : rows) {
    std::snprintf(buf, sizeof buf, "%s,%ld,%.6g,%.6g,%.6g,%.6g\n", r.name.c_str(), r.windows,
                  r.mean_d, r.mean_logit, r.std_logit, r.mean_logit - rows[0].mean_logit);
    s += buf;
  }
  return s;
}
}  // namespace

int cmd_probe(int argc, char** argv) {
  algos::ProbeOptions o;
  long seed = 0;
  std::string csv;
  Args a("probe",
         "scores expert windows with a checkpoint's discriminator as they are, with every slot "
         "replaced by the newest frame (does D look at motion?) and with the slots shuffled");
  a.add("--checkpoint", o.checkpoint,
        "an imitation checkpoint (runs/<name>/checkpoints/{latest,best,final}.h5)");
  a.add("--demos", o.demos, "HDF5 video demonstrations of the run's env and frame size");
  a.add("--windows", o.windows, "expert windows drawn uniformly from the demonstrations");
  a.add("--seed", seed, "seeds the windows drawn and the shuffled orders");
  a.add("--csv", csv, "also write the table as CSV to this file ('-': print CSV instead)");
  if (!a.parse(argc, argv)) return a.exit_code();
  auto usage = [](const std::string& m) { return usage_error("probe", m); };
  if (o.checkpoint.empty()) return usage("--checkpoint is required");
  if (o.demos.empty()) return usage("--demos is required");
  if (o.windows < 1 || o.windows > 1000000) return usage("--windows must be in [1, 1000000]");
  if (seed < 0) return usage("--seed must be >= 0");
  o.seed = uint64_t(seed);

  const std::vector<algos::ProbeRow> rows = algos::probe_checkpoint(o);
  const std::string text = csv_of(rows);
  if (csv == "-") {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  std::printf("%-9s %8s %8s %11s %10s %12s  %s\n", "windows", "count", "mean D", "mean logit",
              "std logit", "vs expert", "what");
  for (const algos::ProbeRow& r : rows)
    std::printf("%-9s %8ld %8.4f %11.4f %10.4f %+12.4f  %s\n", r.name.c_str(), r.windows, r.mean_d,
                r.mean_logit, r.std_logit, r.mean_logit - rows[0].mean_logit, r.what.c_str());
  if (!csv.empty()) {
    std::ofstream f(csv, std::ios::trunc);
    f << text;
    f.close();
    RM_CHECK(f.good(), "cannot write ", csv);
    std::printf("wrote %s\n", csv.c_str());
  }
  return 0;
}

}  // namespace relmimic::cli
