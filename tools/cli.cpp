#include "tools/cli.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "kernels/common.h"

namespace relmimic::cli {

namespace {
long parse_long(const std::string& name, const std::string& s) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  // Accept 1e6-style integers too.
  if (end && *end != 0) {
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == 0 && d == double(long(d))) return long(d);
    RM_FAIL(name, ": expected an integer, got '", s, "'");
  }
  RM_CHECK(!s.empty(), name, ": expected an integer, got an empty value");
  return v;
}
double parse_double(const std::string& name, const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  RM_CHECK(!s.empty() && end && *end == 0, name, ": expected a number, got '", s, "'");
  return v;
}
}  // namespace

Args::Args(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void Args::add(const std::string& name, int& value, const std::string& help) {
  opts_.push_back({name, help, std::to_string(value), false, [&value, name](const std::string& s) {
                     long v = parse_long(name, s);
                     RM_CHECK(v >= -2147483647L && v <= 2147483647L, name, ": ", s,
                              " is out of range");
                     value = int(v);
                   }});
}
void Args::add(const std::string& name, long& value, const std::string& help) {
  opts_.push_back({name, help, std::to_string(value), false,
                   [&value, name](const std::string& s) { value = parse_long(name, s); }});
}
void Args::add(const std::string& name, double& value, const std::string& help) {
  std::ostringstream os;
  os << value;
  opts_.push_back({name, help, os.str(), false,
                   [&value, name](const std::string& s) { value = parse_double(name, s); }});
}
void Args::add(const std::string& name, std::string& value, const std::string& help) {
  opts_.push_back({name, help, value, false, [&value](const std::string& s) { value = s; }});
}
void Args::add(const std::string& name, std::vector<std::string>& values, const std::string& help) {
  opts_.push_back({name, help + " (repeatable)", "", false,
                   [&values](const std::string& s) { values.push_back(s); }});
}
void Args::flag(const std::string& name, bool& value, const std::string& help) {
  opts_.push_back({name, help, "", true, [&value](const std::string&) { value = true; }});
}

void Args::positional(const std::string& name, std::vector<std::string>& values,
                      const std::string& help) {
  pos_name_ = name;
  pos_help_ = help;
  pos_ = &values;
}

std::string Args::usage() const {
  std::ostringstream os;
  os << "usage: relmimic " << command_ << (pos_ ? " " + pos_name_ + "..." : "") << " [options]\n\n"
     << summary_ << "\n\n";
  if (pos_) os << "  " << pos_name_ << "  " << pos_help_ << "\n\n";
  os << "options:\n";
  for (const Opt& o : opts_) {
    std::string lhs = "  " + o.name + (o.is_flag ? "" : " X");
    os << lhs;
    for (size_t i = lhs.size(); i < 26; ++i) os << ' ';
    os << ' ' << o.help;
    if (!o.is_flag && !o.def.empty()) os << " (default: " << o.def << ")";
    os << "\n";
  }
  os << "  --help                   show this message\n";
  return os.str();
}

bool Args::given(const std::string& name) const {
  return std::find(given_.begin(), given_.end(), name) != given_.end();
}

bool Args::parse(int argc, char** argv) {
  try {
    for (int i = 0; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::fputs(usage().c_str(), stdout);
        exit_code_ = 0;
        return false;
      }
      std::string val;
      bool has_val = false;
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        val = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_val = true;
      }
      if (pos_ && (a.size() < 2 || a[0] != '-')) {
        pos_->push_back(a);
        continue;
      }
      const Opt* found = nullptr;
      for (const Opt& o : opts_)
        if (o.name == a) found = &o;
      RM_CHECK(found, "unknown option '", a, "' (see relmimic ", command_, " --help)");
      if (found->is_flag) {
        RM_CHECK(!has_val, found->name, " takes no value");
      } else if (!has_val) {
        RM_CHECK(i + 1 < argc, found->name, " needs a value");
        val = argv[++i];
      }
      found->set(val);
      given_.push_back(found->name);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relmimic %s: %s\n", command_.c_str(), e.what());
    exit_code_ = 2;
    return false;
  }
  return true;
}

int usage_error(const std::string& command, const std::string& msg) {
  std::fprintf(stderr, "relmimic %s: %s (see relmimic %s --help)\n", command.c_str(), msg.c_str(),
               command.c_str());
  return 2;
}

std::string changed_setting(const Config& saved, const Config& given,
                            const std::vector<std::string>& ignore) {
  auto text = [](const Config& c, const std::string& k) -> std::string {
    switch (c.type(k)) {
      case Config::Type::Bool:
        return c.get<bool>(k) ? "true" : "false";
      case Config::Type::Int:
        return std::to_string(c.get<long>(k));
      case Config::Type::Double:
        return json::dump(json::Value(c.get<double>(k)));
      case Config::Type::String: {  // appended: GCC 12 warns (-Wrestrict) on "'" + string&&
        std::string quoted = "'";
        quoted += c.get<std::string>(k);
        return quoted += "'";
      }
    }
    return "";
  };
  for (const std::string& k : saved.keys()) {
    if (std::find(ignore.begin(), ignore.end(), k) != ignore.end()) continue;
    const std::string a = text(saved, k), b = text(given, k);
    if (a != b) return k + " is " + a + " in the run, " + b + " here";
  }
  return "";
}

}  // namespace relmimic::cli
