#include "engine/files.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "kernels/common.h"

namespace fs = std::filesystem;

namespace relmimic {

namespace {
constexpr const char* kTempMark = ".tmp-";

// fsync of a file or folder; false when it cannot be opened or synced.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// The process id of a "<name>.tmp-<pid>" file name, or 0 when it is not one.
pid_t temp_owner(const std::string& name) {
  const size_t at = name.rfind(kTempMark);
  if (at == std::string::npos || at == 0) return 0;
  const std::string digits = name.substr(at + std::strlen(kTempMark));
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return pid_t(std::stol(digits));
}

bool process_gone(pid_t pid) {
  return pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
}

int remove_stale(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const pid_t pid = temp_owner(name);
    if (pid == 0 || (!prefix.empty() && name.size() != prefix.size() + std::to_string(pid).size()))
      continue;
    std::error_code rm;
    if (process_gone(pid) && it->is_regular_file(rm) && fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}
}  // namespace

std::string temp_path(const std::string& path) {
  return path + kTempMark + std::to_string(::getpid());
}

void commit_temp(const std::string& tmp, const std::string& path) {
  // fsync before the rename so a crash cannot leave a renamed but empty file.
  if (!sync_path(tmp, O_RDONLY)) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    RM_FAIL("cannot sync '", tmp, "' (", why, "); '", path, "' is unchanged");
  }
  if (detail::before_rename_hook) detail::before_rename_hook(tmp);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    RM_FAIL("cannot rename '", tmp, "' to '", path, "': ", ec.message());
  }
  const fs::path parent = fs::path(path).parent_path();
  sync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
}

void write_file_atomically(const std::string& path, const std::string& text) {
  remove_stale_temps_of(path);
  const std::string tmp = temp_path(path);
  FILE* f = std::fopen(tmp.c_str(), "wb");
  RM_CHECK(f, "cannot open '", tmp, "' for writing (", std::strerror(errno), ")");
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    RM_FAIL("cannot write '", path, "' (", why, "); the previous version is unchanged");
  }
  commit_temp(tmp, path);
}

int remove_stale_temps(const std::string& dir) {
  return remove_stale(fs::path(dir), "");
}

int remove_stale_temps_of(const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  return remove_stale(dir, p.filename().string() + kTempMark);
}

}  // namespace relmimic
