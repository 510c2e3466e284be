// Config: declarations with defaults, JSON files, key=value overrides, the one-line errors for
// unknown keys and wrong types, and dump-then-reload giving back the same configuration.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "engine/config.h"

namespace relmimic {
namespace {

// The settings a trainer would declare.
Config declared() {
  Config c;
  c.add("env", "hopper", "task: hopper | walker2d");
  c.add("seed", 0, "base seed");
  c.add("ppo.clip", 0.2, "PPO clip range");
  c.add("ppo.lr", 3e-4, "Adam learning rate");
  c.add("ppo.epochs", 10, "passes over each rollout");
  c.add("ppo.norm_adv", true, "standardize advantages per rollout");
  c.add("ppo.gae.lambda", 0.95, "GAE lambda");
  c.add("total_steps", 1500000L, "environment steps per learner");
  c.add("run_name", std::string("default"), "run folder name");
  return c;
}

// Runs f, expects an Error, and returns its message (checked to be one line).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string temp_path(const char* name) {
  return ::testing::TempDir() + "relmimic_cfg_" + std::to_string(getpid()) + "_" + name;
}

TEST(Config, DefaultsAndTypedReads) {
  Config c = declared();
  EXPECT_EQ(c.get<std::string>("env"), "hopper");
  EXPECT_EQ(c.get<int>("seed"), 0);
  EXPECT_EQ(c.get<double>("ppo.clip"), 0.2);
  EXPECT_EQ(c.get<int>("ppo.epochs"), 10);
  EXPECT_EQ(c.get<long>("total_steps"), 1500000L);
  EXPECT_TRUE(c.get<bool>("ppo.norm_adv"));
  EXPECT_EQ(c.get<double>("ppo.gae.lambda"), 0.95);
  EXPECT_EQ(c.type("ppo.lr"), Config::Type::Double);
  EXPECT_EQ(c.keys().size(), 9u);
  EXPECT_TRUE(c.has("ppo.gae.lambda"));
  EXPECT_FALSE(c.has("ppo.gae"));
  // Reading with another type is a programming error, named.
  EXPECT_TRUE(contains(error_of([&] { c.get<int>("ppo.clip"); }),
                       "'ppo.clip' is declared as double, read as int"));
  EXPECT_TRUE(contains(error_of([&] { c.get<double>("ppo.epochs"); }), "'ppo.epochs'"));
  EXPECT_TRUE(contains(error_of([&] { c.get<bool>("ppo.clipp"); }), "did you mean 'ppo.clip'"));
}

TEST(Config, RejectsBadDeclarations) {
  Config c = declared();
  EXPECT_TRUE(contains(error_of([&] { c.add("ppo.clip", 0.1, ""); }), "declared twice"));
  EXPECT_TRUE(contains(error_of([&] { c.add("ppo", 1, ""); }), "clashes with the section"));
  EXPECT_TRUE(contains(error_of([&] { c.add("ppo.lr.decay", true, ""); }),
                       "would make the setting 'ppo.lr' a section"));
  EXPECT_TRUE(contains(error_of([&] { c.add("bad key", 1, ""); }), "malformed"));
  EXPECT_TRUE(contains(error_of([&] { c.add("a..b", 1, ""); }), "malformed"));
  EXPECT_TRUE(contains(error_of([&] { c.add("x.", 1, ""); }), "malformed"));
  EXPECT_TRUE(contains(error_of([&] { c.add("nan", double(NAN), ""); }), "finite"));
  EXPECT_TRUE(contains(error_of([&] { c.add("huge", 1L << 60, ""); }), "2^53"));
  EXPECT_FALSE(c.has("nan"));  // a failed declaration leaves nothing behind
  EXPECT_EQ(c.keys().size(), 9u);
}

TEST(Config, LoadsNestedJson) {
  Config c = declared();
  c.load_json(json::parse(R"({"env": "walker2d", "ppo": {"clip": 0.1, "epochs": 4,
                              "gae": {"lambda": 0.98}}, "total_steps": 3e6})"),
              "test.json");
  EXPECT_EQ(c.get<std::string>("env"), "walker2d");
  EXPECT_EQ(c.get<double>("ppo.clip"), 0.1);
  EXPECT_EQ(c.get<int>("ppo.epochs"), 4);
  EXPECT_EQ(c.get<double>("ppo.gae.lambda"), 0.98);
  EXPECT_EQ(c.get<long>("total_steps"), 3000000L);
  EXPECT_EQ(c.get<double>("ppo.lr"), 3e-4);  // untouched keys keep their values
  c.load_json(json::parse(R"({"ppo": {"clip": 1}})"), "ints.json");  // an integer is a number
  EXPECT_EQ(c.get<double>("ppo.clip"), 1.0);
}

TEST(Config, JsonErrorsNameTheKey) {
  Config c = declared();
  auto load = [&](const char* text) {
    return error_of([&] { c.load_json(json::parse(text), "f.json"); });
  };
  std::string e = load(R"({"ppo": {"clp": 0.1}})");
  EXPECT_TRUE(contains(e, "unknown config key 'ppo.clp' in f.json")) << e;
  EXPECT_TRUE(contains(e, "did you mean 'ppo.clip'?")) << e;
  e = load(R"({"optimizer": 1})");
  EXPECT_TRUE(contains(e, "unknown config key 'optimizer' in f.json")) << e;
  EXPECT_FALSE(contains(e, "did you mean")) << e;
  e = load(R"({"ppo": {"clip": "0.1"}})");
  EXPECT_TRUE(contains(e, "'ppo.clip' in f.json expects a number, got a string \"0.1\"")) << e;
  e = load(R"({"ppo": {"epochs": 2.5}})");
  EXPECT_TRUE(contains(e, "'ppo.epochs' in f.json expects an integer, got a number 2.5")) << e;
  e = load(R"({"ppo": {"norm_adv": 1}})");
  EXPECT_TRUE(contains(e, "'ppo.norm_adv' in f.json expects a bool")) << e;
  e = load(R"({"env": null})");
  EXPECT_TRUE(contains(e, "'env' in f.json expects a string, got null")) << e;
  e = load(R"({"ppo": 3})");
  EXPECT_TRUE(contains(e, "section 'ppo' in f.json must be an object, got a number 3")) << e;
  e = load(R"({"ppo.clip": 0.3})");
  EXPECT_TRUE(contains(e, "nested objects, not dotted keys")) << e;
  e = load("[1]");
  EXPECT_TRUE(contains(e, "must be a JSON object")) << e;
  EXPECT_EQ(c.get<double>("ppo.clip"), 0.2);
}

TEST(Config, Overrides) {
  Config c = declared();
  c.apply_overrides({"ppo.lr=1e-4", "env=walker2d", "ppo.epochs=1e3", "ppo.norm_adv=false",
                     "ppo.gae.lambda=1", "run_name=a=b c", "seed=-3"});
  EXPECT_EQ(c.get<double>("ppo.lr"), 1e-4);
  EXPECT_EQ(c.get<std::string>("env"), "walker2d");
  EXPECT_EQ(c.get<int>("ppo.epochs"), 1000);
  EXPECT_FALSE(c.get<bool>("ppo.norm_adv"));
  EXPECT_EQ(c.get<double>("ppo.gae.lambda"), 1.0);
  EXPECT_EQ(c.get<std::string>("run_name"), "a=b c");  // split at the first '='
  EXPECT_EQ(c.get<int>("seed"), -3);
  c.apply_override("ppo.norm_adv=1");
  EXPECT_TRUE(c.get<bool>("ppo.norm_adv"));

  auto bad = [&](const char* o) { return error_of([&] { c.apply_override(o); }); };
  std::string e = bad("ppo.epochs=2.5");
  EXPECT_TRUE(contains(e, "'ppo.epochs' in override 'ppo.epochs=2.5' expects an integer")) << e;
  e = bad("ppo.lr=fast");
  EXPECT_TRUE(contains(e, "'ppo.lr' in override 'ppo.lr=fast' expects a number, got 'fast'")) << e;
  e = bad("ppo.lr=nan");
  EXPECT_TRUE(contains(e, "expects a finite number")) << e;
  EXPECT_TRUE(contains(bad("ppo.lr="), "expects a number"));
  EXPECT_TRUE(contains(bad("ppo.lr=1e-4x"), "expects a number"));
  EXPECT_TRUE(contains(bad("ppo.norm_adv=yes"), "expects true/false/1/0"));
  EXPECT_TRUE(contains(bad("ppo.lrr=1"), "unknown config key 'ppo.lrr'"));
  EXPECT_TRUE(contains(bad("ppo=1"), "'ppo' in override 'ppo=1' is a section"));
  EXPECT_TRUE(contains(bad("ppo.lr"), "not of the form key=value"));
  EXPECT_EQ(c.get<double>("ppo.lr"), 1e-4);  // failed overrides change nothing
}

TEST(Config, DumpsNestedInDeclarationOrder) {
  Config c;
  c.add("b", 1, "");
  c.add("ppo.clip", 0.2, "");
  c.add("a", "x", "");
  c.add("ppo.gae.lambda", 0.95, "");
  c.add("ppo.epochs", 10, "");
  EXPECT_EQ(c.dump(),
            "{\n  \"b\": 1,\n  \"ppo\": {\n    \"clip\": 0.2,\n    \"gae\": {\n"
            "      \"lambda\": 0.95\n    },\n    \"epochs\": 10\n  },\n  \"a\": \"x\"\n}");
  const std::string h = c.help();
  EXPECT_TRUE(contains(h, "ppo.gae.lambda")) << h;
  EXPECT_TRUE(contains(h, "double")) << h;
}

TEST(Config, DumpThenReloadIsTheSameConfig) {
  Config a = declared();
  a.apply_overrides({"ppo.lr=0.30000000000000004", "ppo.clip=1e-300", "seed=9007199254740992",
                     "run_name=quote \" slash \\ newline", "env=\xC3\xA9t\xC3\xA9"});
  a.set("ppo.gae.lambda", json::Value(0.1 + 0.7));
  const std::string path = temp_path("reload.json");
  json::write_file(path, a.to_json());

  Config b = declared();
  b.load_file(path);
  std::remove(path.c_str());
  EXPECT_TRUE(b.to_json() == a.to_json());
  EXPECT_EQ(b.dump(), a.dump());
  EXPECT_EQ(b.get<double>("ppo.lr"), 0.1 + 0.2);  // bit-exact doubles
  EXPECT_EQ(b.get<double>("ppo.gae.lambda"), 0.1 + 0.7);
  EXPECT_EQ(b.get<double>("ppo.clip"), 1e-300);
  EXPECT_EQ(b.get<long>("seed"), 9007199254740992L);
  EXPECT_EQ(b.get<std::string>("run_name"), "quote \" slash \\ newline");
  // A fresh config differs from the loaded one: the comparison is not vacuous.
  EXPECT_FALSE(declared().to_json() == b.to_json());
}

TEST(Config, FileErrorsNamePathAndPosition) {
  Config c = declared();
  const std::string path = temp_path("bad.json");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("{\n  \"ppo\": {\"clip\": 0.1,}\n}\n", f);
    std::fclose(f);
  }
  std::string e = error_of([&] { c.load_file(path); });
  EXPECT_EQ(e.rfind(path + ":2:23: ", 0), 0u) << e;
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("{\"ppo\": {\"epoch\": 3}}\n", f);
    std::fclose(f);
  }
  e = error_of([&] { c.load_file(path); });
  EXPECT_TRUE(contains(e, "unknown config key 'ppo.epoch' in " + path)) << e;
  EXPECT_TRUE(contains(e, "did you mean 'ppo.epochs'?")) << e;
  std::remove(path.c_str());
  EXPECT_TRUE(contains(error_of([&] { c.load_file(path); }), "cannot open"));
}

TEST(Config, IntRange) {
  Config c;
  c.add("big", 5000000000L, "");
  EXPECT_EQ(c.get<long>("big"), 5000000000L);
  EXPECT_TRUE(contains(error_of([&] { c.get<int>("big"); }), "does not fit an int"));
  EXPECT_TRUE(contains(error_of([&] { c.apply_override("big=1e300"); }), "within +-2^53"));
}

}  // namespace
}  // namespace relmimic
