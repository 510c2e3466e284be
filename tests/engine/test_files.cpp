// Atomic text files and the removal of temporaries that killed writers left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/files.h"
#include "engine/h5.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;

// The id of a process that has exited (and been reaped).
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) std::_Exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

void touch(const fs::path& p) {
  std::ofstream(p) << "x";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Files, StaleTemporariesOfDeadProcessesAreRemoved) {
  const fs::path dir = testing::tmp_path("stale");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string dead = std::to_string(dead_pid());
  const std::string mine = std::to_string(getpid());
  touch(dir / ("latest.h5.tmp-" + dead));
  touch(dir / ("progress.csv.tmp-" + dead));
  touch(dir / ("latest.h5.tmp-" + mine));  // this process: being written
  touch(dir / "latest.h5.tmp-1");          // init: alive
  touch(dir / "latest.h5.tmp-abc");        // not a temporary of ours
  touch(dir / "latest.h5");
  EXPECT_EQ(remove_stale_temps_of((dir / "latest.h5").string()), 1);
  EXPECT_FALSE(fs::exists(dir / ("latest.h5.tmp-" + dead)));
  EXPECT_TRUE(fs::exists(dir / ("progress.csv.tmp-" + dead)));
  EXPECT_EQ(remove_stale_temps(dir.string()), 1);
  EXPECT_FALSE(fs::exists(dir / ("progress.csv.tmp-" + dead)));
  for (const std::string& kept : {"latest.h5.tmp-" + mine, std::string("latest.h5.tmp-1"),
                                  std::string("latest.h5.tmp-abc"), std::string("latest.h5")})
    EXPECT_TRUE(fs::exists(dir / kept)) << kept;
  fs::remove_all(dir);
}

// A checkpoint write removes what an earlier, killed write of the same file left.
TEST(Files, AtomicWriterRemovesTheTemporariesOfKilledWriters) {
  const fs::path dir = testing::tmp_path("stale_h5");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path stale = dir / ("latest.h5.tmp-" + std::to_string(dead_pid()));
  touch(stale);
  {
    h5::AtomicWriter w((dir / "latest.h5").string());
    w.file().set_attr("/", "version", 1L);
    w.commit();
  }
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(dir / "latest.h5"));
  fs::remove_all(dir);
}

TEST(Files, WriteFileAtomicallyReplacesTheWholeFile) {
  const fs::path dir = testing::tmp_path("atomic_text");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "a.txt").string();
  write_file_atomically(path, "first\nversion\n");
  write_file_atomically(path, "second\n");
  EXPECT_EQ(slurp(path), "second\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_NE(testing::error_of([&] {
              write_file_atomically((dir / "no/such/b.txt").string(), "");
            }).find("b.txt"),
            std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace relmimic
