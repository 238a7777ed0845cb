#include "kms/server/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/numbers.h"
#include "common/status.h"
#include "fmt/format.h"
#include "yaml-cpp/yaml.h"

namespace cloak::kms::server {
namespace {

std::string Join(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

std::string NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return fmt::format("\"{}\"", node.Scalar());
  }
}

// Refuses keys of `map` outside `allowed`.
absl::Status CheckKeys(const YAML::Node& map, std::string_view prefix,
                       std::initializer_list<std::string_view> allowed) {
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) {
      return absl::InvalidArgumentError(
          fmt::format("config: {} has a key that is not a plain name", prefix));
    }
    const std::string key = entry.first.Scalar();
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) {
      std::string names;
      for (std::string_view name : allowed)
        names += (names.empty() ? "" : ", ") + std::string(name);
      return absl::InvalidArgumentError(fmt::format(
          "config: unknown key \"{}\"; the keys allowed here are: {}", Join(prefix, key), names));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<YAML::Node> Map(const YAML::Node& parent, std::string_view prefix,
                               std::string_view key, bool required) {
  const YAML::Node node = parent[std::string(key)];
  if (!node.IsDefined() || node.IsNull()) {
    if (required) {
      return absl::InvalidArgumentError(
          fmt::format("config: {} is required (a mapping)", Join(prefix, key)));
    }
    return YAML::Node(YAML::NodeType::Map);
  }
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        fmt::format("config: {} must be a mapping, got {}", Join(prefix, key), NodeKind(node)));
  }
  return node;
}

// A scalar string; `*out` keeps its default when the key is absent.
absl::Status String(const YAML::Node& parent, std::string_view prefix, std::string_view key,
                    std::string* out) {
  const YAML::Node node = parent[std::string(key)];
  if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(
        fmt::format("config: {} must be a string, got {}", Join(prefix, key), NodeKind(node)));
  }
  *out = node.Scalar();
  return absl::OkStatus();
}

absl::Status Bool(const YAML::Node& parent, std::string_view prefix, std::string_view key,
                  bool* out) {
  const YAML::Node node = parent[std::string(key)];
  if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
  if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
    *out = node.Scalar() == "true";
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      fmt::format("config: {} must be true or false, got {}", Join(prefix, key), NodeKind(node)));
}

absl::Status Int(const YAML::Node& parent, std::string_view prefix, std::string_view key,
                 std::int64_t min, std::int64_t max, std::int64_t* out) {
  const YAML::Node node = parent[std::string(key)];
  if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
  std::int64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(fmt::format("config: {} must be an integer in {}..{}, got {}",
                                                  Join(prefix, key), min, max, NodeKind(node)));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status StringList(const YAML::Node& parent, std::string_view prefix, std::string_view key,
                        std::vector<std::string>* out) {
  const YAML::Node node = parent[std::string(key)];
  if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(fmt::format("config: {} must be a list of strings, got {}",
                                                  Join(prefix, key), NodeKind(node)));
  }
  for (const auto& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      return absl::InvalidArgumentError(
          fmt::format("config: {} must be a list of non-empty strings", Join(prefix, key)));
    }
    out->push_back(item.Scalar());
  }
  return absl::OkStatus();
}

absl::Status Required(const std::string& value, std::string_view field, std::string_view what) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format("config: {} is required ({})", field, what));
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

absl::Status ParseInto(const YAML::Node& root, const std::string& base_dir, ServerConfig* c) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        fmt::format("config: the document must be a mapping of keys, got {}", NodeKind(root)));
  }
  RETURN_IF_ERROR(CheckKeys(root, "",
                            {"listen", "tls", "store", "kek", "session", "attestation",
                             "insecure_allow_unattested", "ready_file", "log"}));
  RETURN_IF_ERROR(String(root, "", "listen", &c->listen));
  RETURN_IF_ERROR(Bool(root, "", "insecure_allow_unattested", &c->insecure_allow_unattested));
  RETURN_IF_ERROR(String(root, "", "ready_file", &c->ready_file));

  ASSIGN_OR_RETURN(const YAML::Node tls, Map(root, "", "tls", /*required=*/true));
  RETURN_IF_ERROR(CheckKeys(tls, "tls", {"cert", "key", "client_ca"}));
  RETURN_IF_ERROR(String(tls, "tls", "cert", &c->tls.cert));
  RETURN_IF_ERROR(String(tls, "tls", "key", &c->tls.key));
  RETURN_IF_ERROR(String(tls, "tls", "client_ca", &c->tls.client_ca));
  RETURN_IF_ERROR(Required(c->tls.cert, "tls.cert", "the server certificate, PEM"));
  RETURN_IF_ERROR(Required(c->tls.key, "tls.key", "the server private key, PEM, mode 0600"));
  RETURN_IF_ERROR(Required(c->tls.client_ca, "tls.client_ca", "the admin client CA, PEM"));

  ASSIGN_OR_RETURN(const YAML::Node store, Map(root, "", "store", /*required=*/true));
  RETURN_IF_ERROR(CheckKeys(
      store, "store",
      {"type", "path", "endpoints", "prefix", "ca_file", "cert_file", "key_file", "timeout_ms"}));
  RETURN_IF_ERROR(String(store, "store", "type", &c->store.type));
  RETURN_IF_ERROR(String(store, "store", "path", &c->store.path));
  RETURN_IF_ERROR(StringList(store, "store", "endpoints", &c->store.endpoints));
  RETURN_IF_ERROR(String(store, "store", "prefix", &c->store.prefix));
  RETURN_IF_ERROR(String(store, "store", "ca_file", &c->store.ca_file));
  RETURN_IF_ERROR(String(store, "store", "cert_file", &c->store.cert_file));
  RETURN_IF_ERROR(String(store, "store", "key_file", &c->store.key_file));
  RETURN_IF_ERROR(Int(store, "store", "timeout_ms", 100, 600000, &c->store.timeout_ms));
  if (c->store.type == "sqlite") {
    RETURN_IF_ERROR(Required(c->store.path, "store.path", "the SQLite database file"));
    for (const auto& [key, value] :
         {std::pair<const char*, bool>{"endpoints", !c->store.endpoints.empty()},
          {"ca_file", !c->store.ca_file.empty()},
          {"cert_file", !c->store.cert_file.empty()},
          {"key_file", !c->store.key_file.empty()}}) {
      if (value) {
        return absl::InvalidArgumentError(
            fmt::format("config: store.{} belongs to type etcd; remove it for type sqlite", key));
      }
    }
  } else if (c->store.type == "etcd") {
    if (c->store.endpoints.empty()) {
      return absl::InvalidArgumentError(
          "config: store.endpoints is required for type etcd (a list of host:port)");
    }
    if (!c->store.path.empty()) {
      return absl::InvalidArgumentError(
          "config: store.path belongs to type sqlite; remove it for type etcd");
    }
    if (c->store.cert_file.empty() != c->store.key_file.empty()) {
      return absl::InvalidArgumentError(
          "config: store.cert_file and store.key_file go together (etcd client TLS); set both "
          "or neither");
    }

  } else {
    return absl::InvalidArgumentError(
        fmt::format("config: store.type must be sqlite or etcd, got \"{}\"", c->store.type));
  }

  ASSIGN_OR_RETURN(const YAML::Node kek, Map(root, "", "kek", /*required=*/true));
  RETURN_IF_ERROR(CheckKeys(kek, "kek", {"type", "path", "module", "token_label", "pin_file"}));
  RETURN_IF_ERROR(String(kek, "kek", "type", &c->kek.type));
  RETURN_IF_ERROR(String(kek, "kek", "path", &c->kek.path));
  RETURN_IF_ERROR(String(kek, "kek", "module", &c->kek.module));
  RETURN_IF_ERROR(String(kek, "kek", "token_label", &c->kek.token_label));
  RETURN_IF_ERROR(String(kek, "kek", "pin_file", &c->kek.pin_file));
  if (c->kek.type == "file") {
    RETURN_IF_ERROR(Required(c->kek.path, "kek.path", "the KEK file, mode 0600"));
  } else if (c->kek.type == "pkcs11") {
    RETURN_IF_ERROR(Required(c->kek.module, "kek.module", "the PKCS#11 module library path"));
    RETURN_IF_ERROR(Required(c->kek.token_label, "kek.token_label", "the token's label"));
    RETURN_IF_ERROR(
        Required(c->kek.pin_file, "kek.pin_file", "a file holding the user PIN, mode 0600"));
  } else {
    return absl::InvalidArgumentError(
        fmt::format("config: kek.type must be file or pkcs11, got \"{}\"", c->kek.type));
  }

  ASSIGN_OR_RETURN(const YAML::Node session, Map(root, "", "session", /*required=*/true));
  RETURN_IF_ERROR(CheckKeys(session, "session", {"signing_key_file", "token_ttl_s"}));
  RETURN_IF_ERROR(String(session, "session", "signing_key_file", &c->session.signing_key_file));
  RETURN_IF_ERROR(Int(session, "session", "token_ttl_s", 1, 3600, &c->session.token_ttl_s));
  RETURN_IF_ERROR(Required(c->session.signing_key_file, "session.signing_key_file",
                           "a 32-byte Ed25519 seed, mode 0600"));

  ASSIGN_OR_RETURN(const YAML::Node attestation, Map(root, "", "attestation", /*required=*/false));
  RETURN_IF_ERROR(CheckKeys(attestation, "attestation", {"sev-snp", "tpm"}));
  ASSIGN_OR_RETURN(const YAML::Node snp, Map(attestation, "attestation", "sev-snp", false));
  RETURN_IF_ERROR(
      CheckKeys(snp, "attestation.sev-snp", {"enabled", "roots_file", "vcek_cache_dir"}));
  RETURN_IF_ERROR(Bool(snp, "attestation.sev-snp", "enabled", &c->attestation.snp_enabled));
  RETURN_IF_ERROR(String(snp, "attestation.sev-snp", "roots_file", &c->attestation.snp_roots_file));
  RETURN_IF_ERROR(
      String(snp, "attestation.sev-snp", "vcek_cache_dir", &c->attestation.snp_vcek_cache_dir));
  ASSIGN_OR_RETURN(const YAML::Node tpm, Map(attestation, "attestation", "tpm", false));
  RETURN_IF_ERROR(CheckKeys(tpm, "attestation.tpm", {"ek_ca_files"}));
  RETURN_IF_ERROR(
      StringList(tpm, "attestation.tpm", "ek_ca_files", &c->attestation.tpm_ek_ca_files));

  ASSIGN_OR_RETURN(const YAML::Node log, Map(root, "", "log", /*required=*/false));
  RETURN_IF_ERROR(CheckKeys(log, "log", {"format", "level"}));
  RETURN_IF_ERROR(String(log, "log", "format", &c->log_format));
  RETURN_IF_ERROR(String(log, "log", "level", &c->log_level));

  ASSIGN_OR_RETURN(HostPort ignored, ParseHostPort(c->listen, "listen"));
  (void)ignored;

  for (std::string* path :
       {&c->tls.cert, &c->tls.key, &c->tls.client_ca, &c->store.path, &c->store.ca_file,
        &c->store.cert_file, &c->store.key_file, &c->kek.path, &c->kek.pin_file,
        &c->session.signing_key_file, &c->ready_file, &c->attestation.snp_roots_file,
        &c->attestation.snp_vcek_cache_dir}) {
    *path = Resolve(*path, base_dir);
  }
  for (std::string& path : c->attestation.tpm_ek_ca_files) path = Resolve(path, base_dir);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(std::string_view yaml, const std::string& base_dir) {
  ServerConfig config;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    RETURN_IF_ERROR(ParseInto(root, base_dir, &config));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("config: not valid YAML at line {}, column {}: {}", e.mark.line + 1,
                    e.mark.column + 1, e.msg));
  }
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        fmt::format("config file {} cannot be read: {}; create one with `cloak-kms init --dir DIR`",
                    path, std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string base_dir =
      std::filesystem::absolute(std::filesystem::path(path)).parent_path().string();
  absl::StatusOr<ServerConfig> config = ParseServerConfig(text.str(), base_dir);
  if (!config.ok()) return Annotate(config.status(), path);
  return config;
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text, std::string_view field) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(fmt::format(
        "{}: \"{}\" is not HOST:PORT (e.g. 127.0.0.1:7443, [::1]:7443; port 0 picks a free one)",
        field, text));
  };
  HostPort result;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find("]:");
    if (close == std::string_view::npos || close == 1) return bad();
    result.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad();
    result.host = std::string(text.substr(0, colon));
    if (result.host.find(':') != std::string::npos) return bad();  // IPv6 needs brackets
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      !absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &result.port) ||
      result.port < 0 || result.port > 65535) {
    return bad();
  }
  for (char c : port) {
    if (c < '0' || c > '9') return bad();
  }
  return result;
}

std::string FormatHostPort(const HostPort& address) {
  if (address.host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", address.host, address.port);
  }
  return fmt::format("{}:{}", address.host, address.port);
}

absl::Status CheckSecretFile(const std::string& path, std::string_view field) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(fmt::format("{}: {} does not exist", field, path));
    }
    return ErrnoToStatus(errno, fmt::format("{}: cannot inspect {}", field, path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: {} is not a regular file (symlinks are refused); point the key at the file itself",
        field, path));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(
        fmt::format("{}: {} is owned by uid {}, but cloak-kms runs as uid {}; run `chown {} {}`",
                    field, path, st.st_uid, geteuid(), geteuid(), path));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        fmt::format("{}: {} has mode {:04o}; secret files must be 0600 or stricter: run `chmod "
                    "600 {}`",
                    field, path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

absl::Status CheckSecretFiles(const ServerConfig& config) {
  RETURN_IF_ERROR(CheckSecretFile(config.tls.key, "tls.key"));
  if (config.kek.type == "file") RETURN_IF_ERROR(CheckSecretFile(config.kek.path, "kek.path"));
  if (!config.kek.pin_file.empty()) {
    RETURN_IF_ERROR(CheckSecretFile(config.kek.pin_file, "kek.pin_file"));
  }
  if (!config.store.key_file.empty()) {
    RETURN_IF_ERROR(CheckSecretFile(config.store.key_file, "store.key_file"));
  }
  return CheckSecretFile(config.session.signing_key_file, "session.signing_key_file");
}

}  // namespace cloak::kms::server
