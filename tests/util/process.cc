#include "tests/util/process.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace aimarket::testing {
namespace {

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : overrides) {
    if (v.empty()) {
      env.erase(k);
    } else {
      env[k] = v;
    }
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(absl::StrCat(k, "=", v));
  return out;
}

std::string NewTempPath(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  const int fd = mkstemp(tmpl.data());
  if (fd >= 0) close(fd);
  return tmpl;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  const std::string out_path = NewTempPath("aimarket-proc-");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // The child starts with no blocked signals, whatever the test's threads have blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings = MergedEnv(env);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return absl::InternalError(absl::StrCat("posix_spawn ", argv[0], ": ", strerror(rc)));
  return std::unique_ptr<Subprocess>(new Subprocess(pid, out_path));
}

Subprocess::~Subprocess() {
  if (!exit_code_) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
  std::remove(out_path_.c_str());
}

void Subprocess::Signal(int sig) {
  if (!exit_code_) kill(pid_, sig);
}

bool Subprocess::Running() {
  if (exit_code_) return false;
  return !Wait(absl::ZeroDuration()).has_value();
}

std::optional<int> Subprocess::Wait(absl::Duration timeout) {
  if (exit_code_) return exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::string Subprocess::output() const {
  std::ifstream in(out_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string* output, absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(argv, env);
  if (!p.ok()) {
    if (output) *output = p.status().ToString();
    return -1;
  }
  std::optional<int> code = (*p)->Wait(timeout);
  if (output) *output = (*p)->output();
  return code.value_or(-1);
}

namespace {

// Ports handed out by FreePort, whose claim files this process removes when it exits.
std::vector<int>& ClaimedPorts() {
  static auto* ports = new std::vector<int>;
  return *ports;
}

std::string PortClaimDir() {
  const char* tmp = std::getenv("TMPDIR");
  // Per user: another user's claim files could not be taken over.
  return absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/aimarket-test-ports-",
                      getuid());
}

void RemovePortClaims() {
  for (int port : ClaimedPorts()) unlink(absl::StrCat(PortClaimDir(), "/", port).c_str());
}

// Claims `port` for this process across every test process on the machine: a claim file created
// exclusively, holding the claimer's pid; the claim of a process that no longer runs is taken over.
bool ClaimPort(int port) {
  const std::string path = absl::StrCat(PortClaimDir(), "/", port);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      const std::string pid = std::to_string(getpid());
      (void)!write(fd, pid.data(), pid.size());
      close(fd);
      return true;
    }
    if (errno != EEXIST) return true;  // No claims possible here: the bind check alone must do.
    std::ifstream in(path);
    long owner = 0;
    in >> owner;
    if (owner > 0 && (kill(static_cast<pid_t>(owner), 0) == 0 || errno != ESRCH)) return false;
    unlink(path.c_str());  // a dead process's claim; retry once
  }
  return false;
}

bool CanListen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

// Ports come from outside the kernel's ephemeral range, where outgoing connections (of this test or
// any other running beside it) take theirs: a port picked with bind(0) and released could be taken
// by such a connection before the server under test binds it. Claim files keep two test processes
// from picking the same port.
int FreePort() {
  int lo = 32768, hi = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> lo >> hi;
  std::vector<std::pair<int, int>> bands;
  if (hi + 1 <= 65535 && 65535 - hi >= 1000) bands.emplace_back(hi + 1, 65535);
  if (lo - 1 >= 20000) bands.emplace_back(20000, lo - 1);
  if (bands.empty())
    bands.emplace_back(20000, 65535);  // odd kernel settings: collisions stay possible
  std::error_code dir_error;
  std::filesystem::create_directories(PortClaimDir(), dir_error);
  static const bool registered = [] { return std::atexit(RemovePortClaims) == 0; }();
  (void)registered;
  static unsigned seed = static_cast<unsigned>(getpid()) * 2654435761u ^
                         static_cast<unsigned>(absl::ToUnixNanos(absl::Now()));
  for (int attempt = 0; attempt < 2000; ++attempt) {
    const auto& [first, last] = bands[rand_r(&seed) % bands.size()];
    const int port =
        first + static_cast<int>(rand_r(&seed) % static_cast<unsigned>(last - first + 1));
    if (!CanListen(port) || !ClaimPort(port)) continue;
    if (!CanListen(port)) {  // taken between the check and the claim
      unlink(absl::StrCat(PortClaimDir(), "/", port).c_str());
      continue;
    }
    ClaimedPorts().push_back(port);
    return port;
  }
  std::abort();  // no free port in 2000 tries: the machine is not fit to run the tests
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string ReadUntilClosed(int fd, absl::Duration timeout) {
  timeval tv{.tv_sec = 0, .tv_usec = 200'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string got;
  char buf[8192];
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "aimarket-test-XXXXXX").string();
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::WriteFile(const std::string& name, const std::string& contents) const {
  const std::string p = absl::StrCat(path_, "/", name);
  std::ofstream(p, std::ios::binary) << contents;
  return p;
}

namespace {

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t CollectHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    (*static_cast<std::map<std::string, std::string>*>(
        user))[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

}  // namespace

HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers, const std::string& body) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) result.error = curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

}  // namespace aimarket::testing
