#include "cli/policy_command.h"

#include <fstream>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "attest/policy/parse.h"
#include "cli/exit_codes.h"
#include "nlohmann/json.hpp"

namespace cloak::cli {
namespace {

namespace policy = ::cloak::attest::policy;

const std::string kName(policy::kPolicyName);

// The file's bytes: at most one byte over the policy limit, so the parser can say so.
absl::StatusOr<std::string> ReadPolicyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": check the path and its permissions"));
  }
  std::string text(policy::kMaxDocumentBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

struct Checked {
  int exit_code = kExitOk;
  std::string canonical_json;  // when valid
};

// Reads and validates; writes the errors under "cloakctl <command>".
Checked Check(const std::string& path, absl::string_view command, std::ostream& err) {
  absl::StatusOr<std::string> text = ReadPolicyFile(path);
  if (!text.ok()) {
    WriteError(err, command, text.status());
    return {.exit_code = kExitUsage, .canonical_json = {}};
  }
  const std::vector<policy::PolicyError> errors = policy::ValidatePolicy(*text);
  if (!errors.empty()) {
    err << "cloakctl " << command << ": " << path
        << " is not a valid attestation policy; nothing was sent:\n";
    for (const policy::PolicyError& error : errors) {
      err << "  " << path << ": " << error.ToString() << "\n";
    }
    return {.exit_code = kExitFailed, .canonical_json = {}};
  }
  absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(*text);
  return {.exit_code = kExitOk, .canonical_json = policy::PolicyToJson(*parsed)};
}

std::string Summary(const policy::AttestationPolicy& parsed) {
  std::vector<std::string> sections;
  if (parsed.sev_snp) sections.push_back("sev-snp");
  if (parsed.tpm) sections.push_back("tpm");
  if (parsed.none) sections.push_back("none (development only)");
  std::string text = absl::StrCat(parsed.rules.size(),
                                  parsed.rules.size() == 1 ? " rule" : " rules", "; sections: ");
  for (std::size_t i = 0; i < sections.size(); ++i) {
    absl::StrAppend(&text, i == 0 ? "" : ", ", sections[i]);
  }
  return text;
}

nlohmann::json DocumentJson(const std::string& document) {
  nlohmann::json parsed = nlohmann::json::parse(document, nullptr, false);
  if (parsed.is_discarded()) return document;
  return parsed;
}

}  // namespace

int RunPolicyValidate(const std::string& path, const CommandIo& io) {
  absl::StatusOr<std::string> text = ReadPolicyFile(path);
  if (!text.ok()) {
    WriteError(io.err, "policy validate", text.status());
    return kExitUsage;
  }
  const std::vector<policy::PolicyError> errors = policy::ValidatePolicy(*text);
  if (io.format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const policy::PolicyError& error : errors) {
      list.push_back({{"path", error.path}, {"message", error.message}});
    }
    WriteJson(io.out, {{"file", path}, {"valid", errors.empty()}, {"errors", list}});
    return errors.empty() ? kExitOk : kExitFailed;
  }
  if (!errors.empty()) {
    for (const policy::PolicyError& error : errors) {
      io.err << path << ": " << error.ToString() << "\n";
    }
    io.err << path << ": " << errors.size() << (errors.size() == 1 ? " error" : " errors")
           << (errors.size() >= policy::kMaxReportedErrors ? " shown (there may be more)" : "")
           << "\n";
    return kExitFailed;
  }
  absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(*text);
  io.out << path << ": valid attestation policy: " << Summary(*parsed) << "\n";
  return kExitOk;
}

int CheckPolicyFile(const std::string& path, std::ostream& err) {
  return Check(path, "policy set", err).exit_code;
}

int RunPolicySet(AdminClient& client, const PolicySetArgs& args, const CommandIo& io) {
  Checked checked = Check(args.path, "policy set", io.err);
  if (checked.exit_code != kExitOk) return checked.exit_code;
  std::int64_t expected = args.expected_version;
  if (expected < 0) {
    absl::StatusOr<v1::Policy> current = client.GetPolicy(kName, 0);
    if (current.ok()) {
      expected = current->version();
    } else if (current.status().code() == absl::StatusCode::kNotFound) {
      expected = 0;
    } else {
      WriteError(io.err, "policy set", current.status());
      return kExitFailed;
    }
  }
  absl::StatusOr<v1::Policy> stored = client.SetPolicy(kName, checked.canonical_json, expected);
  if (!stored.ok()) {
    absl::Status status = stored.status();
    if (status.code() == absl::StatusCode::kAborted) {
      status = absl::AbortedError(
          absl::StrCat(status.message(),
                       "; the stored policy changed: review it with `cloakctl policy get`, "
                       "then pass --expected-version with its version"));
    }
    WriteError(io.err, "policy set", status);
    return kExitFailed;
  }
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, {{"name", stored->name()},
                       {"version", stored->version()},
                       {"previous_version", expected},
                       {"created_at", FormatUnixMillis(stored->created_at_unix_ms())}});
  } else {
    io.out << "attestation policy version " << stored->version() << " stored (previous: "
           << (expected == 0 ? std::string("none") : std::to_string(expected)) << ")\n";
  }
  return kExitOk;
}

int RunPolicyGet(AdminClient& client, const PolicyGetArgs& args, const CommandIo& io) {
  absl::StatusOr<v1::Policy> stored = client.GetPolicy(kName, args.version);
  if (!stored.ok()) {
    absl::Status status = stored.status();
    if (status.code() == absl::StatusCode::kNotFound) {
      status = absl::NotFoundError(
          args.version == 0
              ? absl::StrCat("the key service at ", client.target(),
                             " has no attestation policy; store one with `cloakctl policy set "
                             "FILE`")
              : absl::StrCat("the key service at ", client.target(),
                             " has no attestation policy version ", args.version));
    }
    WriteError(io.err, "policy get", status);
    return kExitFailed;
  }
  absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(stored->document());
  if (!parsed.ok()) {
    io.err << "cloakctl policy get: note: version " << stored->version()
           << " is not a valid policy for this cloakctl: " << parsed.status().message() << "\n";
  }
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, {{"name", stored->name()},
                       {"version", stored->version()},
                       {"created_at", FormatUnixMillis(stored->created_at_unix_ms())},
                       {"document", DocumentJson(stored->document())}});
    return kExitOk;
  }
  io.out << "policy:   " << stored->name() << "\n"
         << "version:  " << stored->version() << "\n"
         << "created:  " << FormatUnixMillis(stored->created_at_unix_ms()) << "\n";
  if (parsed.ok()) io.out << "contents: " << Summary(*parsed) << "\n";
  io.out << "document:\n";
  const nlohmann::json document = DocumentJson(stored->document());
  if (document.is_string()) {
    io.out << stored->document() << "\n";
  } else {
    WriteJson(io.out, document);
  }
  return kExitOk;
}

}  // namespace cloak::cli
