#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/h5.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using relmimic::testing::error_of;

std::string tmp_path(const std::string& name) {
  return testing::tmp_path("h5_" + name);
}

TEST(H5, RoundTripsEveryDtypeWithShapeAndAttributes) {
  const std::string path = tmp_path("roundtrip.h5");
  Tensor f = Tensor::zeros({2, 3}, DType::f32);
  Tensor d = Tensor::zeros({4}, DType::f64);
  Tensor u = Tensor::zeros({3, 2, 2}, DType::u8);
  Tensor i = Tensor::zeros({5}, DType::i32);
  for (int k = 0; k < 6; ++k) f.data<float>()[k] = 0.5f * float(k) - 1.f;
  for (int k = 0; k < 4; ++k) d.data<double>()[k] = 1.0 / (k + 3);
  for (int k = 0; k < 12; ++k) u.data<uint8_t>()[k] = uint8_t(k * 21);
  for (int k = 0; k < 5; ++k) i.data<int32_t>()[k] = -k * 1000;
  {
    h5::File file = h5::File::create(path);
    file.write("net/w", f);
    file.write("net/opt/m", d);
    file.write("frames", u, /*compress=*/true);
    file.write("ids", i);
    file.set_attr("/", "env", "hopper");
    file.set_attr("net", "step", 42L);
    file.set_attr("net", "lr", 3e-4);
  }
  h5::File file = h5::File::open(path);
  EXPECT_TRUE(file.exists("net/opt/m"));
  EXPECT_FALSE(file.exists("net/opt/v"));
  EXPECT_FALSE(file.exists("nothing/below"));
  EXPECT_EQ(file.list("net"), (std::vector<std::string>{"opt", "w"}));
  Tensor f2 = file.read("net/w");
  EXPECT_EQ(f2.shape(), f.shape());
  EXPECT_EQ(f2.dtype(), DType::f32);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(f2.data<float>()[k], f.data<float>()[k]);
  Tensor d2 = file.read("net/opt/m");
  for (int k = 0; k < 4; ++k) EXPECT_EQ(d2.data<double>()[k], d.data<double>()[k]);
  Tensor u2 = file.read("frames");
  EXPECT_EQ(u2.shape(), (Shape{3, 2, 2}));
  for (int k = 0; k < 12; ++k) EXPECT_EQ(u2.data<uint8_t>()[k], u.data<uint8_t>()[k]);
  Tensor i2 = file.read("ids");
  for (int k = 0; k < 5; ++k) EXPECT_EQ(i2.data<int32_t>()[k], -k * 1000);
  EXPECT_EQ(file.attr_string("/", "env"), "hopper");
  EXPECT_EQ(file.attr_long("net", "step"), 42);
  EXPECT_DOUBLE_EQ(file.attr_double("net", "lr"), 3e-4);
  EXPECT_FALSE(file.has_attr("net", "missing"));

  // Partial reads along the first dimension.
  Tensor rows = Tensor::zeros({2, 2, 2}, DType::u8);
  file.read_rows("frames", 1, rows);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(rows.data<uint8_t>()[k], u.data<uint8_t>()[k + 4]);
  std::filesystem::remove(path);
}

TEST(H5, MismatchesAndBadFilesGiveOneLineErrors) {
  const std::string path = tmp_path("bad.h5");
  {
    h5::File file = h5::File::create(path);
    file.write("x", Tensor::zeros({3}, DType::f32));
  }
  h5::File file = h5::File::open(path);
  EXPECT_NE(error_of([&] {
              file.read_into("x", Tensor::zeros({4}, DType::f32));
            }).find("expected shape [4], file has [3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              file.read_into("x", Tensor::zeros({3}, DType::f64));
            }).find("expected float64, file has float32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { file.read("y"); }).find("no such dataset"), std::string::npos);
  EXPECT_NE(error_of([&] { file.attr_long("x", "n"); }).find("missing attribute 'n'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { h5::File::open(tmp_path("absent.h5")); }).find("file not found"),
            std::string::npos);

  // A file cut in half is not HDF5 any more.
  const std::string cut = tmp_path("cut.h5");
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(cut, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size() / 3));
  }
  std::string msg = error_of([&] { h5::File::open(cut).read("x"); });
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  std::ofstream(tmp_path("text.h5")) << "not hdf5 at all";
  EXPECT_NE(error_of([&] { h5::File::open(tmp_path("text.h5")); }).find("is not an HDF5 file"),
            std::string::npos);
  std::filesystem::remove(path);
  std::filesystem::remove(cut);
  std::filesystem::remove(tmp_path("text.h5"));
}

TEST(H5, AtomicWriterReplacesOnlyOnCommit) {
  const std::string path = tmp_path("atomic.h5");
  std::filesystem::remove(path);
  {
    h5::AtomicWriter w(path);
    w.file().write("a", Tensor::zeros({2}, DType::f64));
    // Abandoned without commit (as a crash or an exception would): nothing appears.
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  {
    h5::AtomicWriter w(path);
    w.file().set_attr("/", "version", 1L);
    w.commit();
  }
  {
    h5::AtomicWriter w(path);
    w.file().set_attr("/", "version", 2L);
    // Not committed: the first version stays intact.
  }
  EXPECT_EQ(h5::File::open(path).attr_long("/", "version"), 1);
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    EXPECT_EQ(e.path().string().find("atomic.h5.tmp-"), std::string::npos) << e.path();
  std::filesystem::remove(path);
}

// A full disk: from some point on every write of a checkpoint fails with ENOSPC (its descriptor
// is pointed at /dev/full). The error names the file, the previous version stays intact, no
// temporary is left, and the process still exits normally: HDF5 1.10 crashes at exit closing a
// file whose close had failed, so the abandoned file must close without error.
TEST(H5, FullDiskLeavesThePreviousFileAndExitsCleanly) {
  const std::string path = tmp_path("full_disk.h5");
  {
    h5::AtomicWriter w(path);
    w.file().set_attr("/", "version", 1L);
    w.commit();
  }
  const std::string message = tmp_path("full_disk.txt");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string err;
    try {
      h5::AtomicWriter w(path);
      w.file().set_attr("/", "version", 2L);
      w.file().write("small", Tensor::zeros({16}, DType::f64));
      hid_t fapl = H5Fget_access_plist(w.file().id());
      int* fd = nullptr;
      H5Fget_vfd_handle(w.file().id(), fapl, reinterpret_cast<void**>(&fd));
      H5Pclose(fapl);
      const int full = ::open("/dev/full", O_WRONLY);
      if (!fd || full < 0 || ::dup2(full, *fd) < 0) std::_Exit(4);
      ::close(full);
      w.file().write("big", Tensor::zeros({1 << 18}, DType::f64));
      w.commit();
    } catch (const std::exception& e) {
      err = e.what();
    }
    // The abandoned file is closed for good: HDF5 holds no file any more.
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE) != 0) std::_Exit(5);
    std::ofstream(message) << err;
    std::exit(err.empty() ? 3 : 0);  // runs HDF5's exit handler
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  ASSERT_EQ(WEXITSTATUS(status), 0)
      << "3: the write did not fail, 4: no /dev/full, 5: the file is still open";
  std::ifstream in(message);
  const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(err.find("full_disk.h5"), std::string::npos) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_EQ(h5::File::open(path).attr_long("/", "version"), 1);
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    EXPECT_EQ(e.path().string().find(path + ".tmp-"), std::string::npos) << e.path();
  std::filesystem::remove(path);
  std::filesystem::remove(message);
}

// A file-size limit (ulimit -f) stops the writes instead: the temporary cannot even be
// discarded into memory (the limit holds there too), its close fails, and the process must
// still exit normally with the previous version intact.
TEST(H5, FileSizeLimitLeavesThePreviousFileAndExitsCleanly) {
  const std::string path = tmp_path("fsize.h5");
  {
    h5::AtomicWriter w(path);
    w.file().set_attr("/", "version", 1L);
    w.commit();
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // write() fails with EFBIG instead
    const rlimit lim{64 << 10, 64 << 10};
    setrlimit(RLIMIT_FSIZE, &lim);
    bool failed = false;
    try {
      h5::AtomicWriter w(path);
      w.file().set_attr("/", "version", 2L);
      w.file().write("big", Tensor::zeros({1 << 18}, DType::f64));
      w.commit();
    } catch (const std::exception&) {
      failed = true;
    }
    std::exit(failed ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the write did not fail";
  EXPECT_EQ(h5::File::open(path).attr_long("/", "version"), 1);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace relmimic
