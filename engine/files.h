// Files that are never seen half-written: a new version goes to "<path>.tmp-<pid>", is fsynced
// and renamed over <path> (rename is atomic), so a reader, a killed process or a full disk finds
// either the old version or the new one. Temporaries of processes that died before their rename
// are removed by the next writer of the same path (and by remove_stale_temps).
#pragma once

#include <string>

namespace relmimic {

// "<path>.tmp-<this process's id>".
std::string temp_path(const std::string& path);

// fsyncs `tmp`, renames it over `path` and fsyncs the folder (the rename itself survives a
// crash). Throws naming the file when any step fails; `tmp` is then removed.
void commit_temp(const std::string& tmp, const std::string& path);

// Writes `text` to `path` atomically (temp_path + commit_temp), first removing the stale
// temporaries of `path`; its folder must exist.
void write_file_atomically(const std::string& path, const std::string& text);

// Removes the temporaries "<name>.tmp-<pid>" in `dir` whose process no longer exists (a writer
// killed before its rename). With `path` given, only that file's temporaries in its folder.
// Returns how many were removed. Temporaries of live processes are kept.
int remove_stale_temps(const std::string& dir);
int remove_stale_temps_of(const std::string& path);

namespace detail {
// Called with the temporary after it is synced, just before the rename: tests stop a process
// there to check that a kill between the two loses nothing.
inline void (*before_rename_hook)(const std::string& tmp) = nullptr;
}  // namespace detail

}  // namespace relmimic
