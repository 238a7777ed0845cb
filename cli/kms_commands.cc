#include "cli/kms_commands.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "cli/audit_command.h"
#include "cli/exit_codes.h"
#include "cli/health_command.h"
#include "cli/policy_command.h"
#include "cli/volumes_command.h"

namespace cloak::cli {
namespace {

constexpr absl::Duration kRpcTimeout = absl::Seconds(30);

// Everything parsed from the command line that the key-service commands share.
struct GlobalOptions {
  std::string kms, ca, cert, key;  // empty: not given
  std::string config_path;         // --config; empty: the default path
  std::string output = "text";
};

struct Shared {
  KmsCommandDeps deps;
  GlobalOptions options;
};

int UsageError(std::ostream& err, absl::string_view command, absl::string_view message) {
  err << "cloakctl " << command << ": " << message << "\n"
      << "Run `cloakctl " << command << " --help` for its options.\n";
  return kExitUsage;
}

// Resolves the settings, connects, and runs `run` with the client and the output.
int Connect(Shared& shared, absl::string_view command,
            const std::function<int(AdminClient&, const CommandIo&)>& run) {
  std::ostream& err = *shared.deps.err;
  const GlobalOptions& options = shared.options;
  const bool explicit_config = !options.config_path.empty();
  const std::string path = explicit_config ? options.config_path : shared.deps.default_config_path;
  ClientSettings file;
  if (!path.empty()) {
    absl::StatusOr<ClientSettings> loaded = LoadClientConfig(path);
    if (loaded.ok()) {
      file = *std::move(loaded);
    } else if (loaded.status().code() != absl::StatusCode::kNotFound || explicit_config) {
      return UsageError(
          err, command,
          absl::StrCat(loaded.status().message(), explicit_config ? " (--config)" : ""));
    }
  }
  ClientSettings flags;
  for (auto [value, field] :
       {std::pair{&options.kms, &flags.kms}, std::pair{&options.ca, &flags.ca},
        std::pair{&options.cert, &flags.cert}, std::pair{&options.key, &flags.key}}) {
    if (!value->empty()) *field = *value;
  }
  absl::StatusOr<ClientConfig> config = ResolveClientConfig(flags, file, path);
  if (!config.ok()) return UsageError(err, command, config.status().message());
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(options.output);
  if (!format.ok()) return UsageError(err, command, format.status().message());
  absl::StatusOr<std::unique_ptr<AdminClient>> client = shared.deps.connect(*config);
  if (!client.ok()) {
    // Unreadable or malformed TLS files are input errors; anything else failed.
    if (client.status().code() == absl::StatusCode::kInvalidArgument) {
      return UsageError(err, command, client.status().message());
    }
    WriteError(err, command, client.status());
    return kExitFailed;
  }
  const CommandIo io{.format = *format, .out = *shared.deps.out, .err = err};
  return run(**client, io);
}

// Adds `name` under `parent`; choosing it sets `action` to connect and run `run`.
CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help,
                     std::shared_ptr<Shared> shared, std::string full_name,
                     std::function<int(AdminClient&, const CommandIo&)> run,
                     std::function<int()>& action) {
  CLI::App* command = parent.add_subcommand(name, help);
  command->callback([shared, full_name, run, &action] {
    action = [shared, full_name, run] { return Connect(*shared, full_name, run); };
  });
  return command;
}

// `policy get|set|validate` (docs/attestation-policy.md). `validate` needs no key service;
// `set` checks its file before it connects, so an invalid file never reaches one.
void AddPolicyCommands(CLI::App& app, std::shared_ptr<Shared> shared,
                       std::function<int()>& action) {
  CLI::App* policy = app.add_subcommand("policy", "The attestation policy");
  policy->require_subcommand(1);
  auto get_args = std::make_shared<PolicyGetArgs>();
  CLI::App* get = AddCommand(
      *policy, "get", "Show the stored attestation policy", shared, "policy get",
      [get_args](AdminClient& client, const CommandIo& io) {
        return RunPolicyGet(client, *get_args, io);
      },
      action);
  get->add_option("--version", get_args->version, "Show version N instead of the latest")
      ->check(CLI::PositiveNumber)
      ->type_name("N");

  auto set_args = std::make_shared<PolicySetArgs>();
  CLI::App* set = policy->add_subcommand(
      "set", "Validate FILE, then store it as the next attestation policy version");
  set->add_option("FILE", set_args->path, "Policy document (YAML or JSON)")->required();
  set->add_option("--expected-version", set_args->expected_version,
                  "Store only if the current version is N (0: no policy yet); default: the "
                  "current version")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N");
  set->callback([shared, set_args, &action] {
    action = [shared, set_args] {
      if (int code = CheckPolicyFile(set_args->path, *shared->deps.err); code != kExitOk) {
        return code;
      }
      return Connect(*shared, "policy set", [set_args](AdminClient& client, const CommandIo& io) {
        return RunPolicySet(client, *set_args, io);
      });
    };
  });

  auto validate_path = std::make_shared<std::string>();
  CLI::App* validate = policy->add_subcommand(
      "validate", "Check FILE offline; exit 1 listing every error when it is not valid");
  validate->add_option("FILE", *validate_path, "Policy document (YAML or JSON)")->required();
  validate->callback([shared, validate_path, &action] {
    action = [shared, validate_path] {
      absl::StatusOr<OutputFormat> format = ParseOutputFormat(shared->options.output);
      if (!format.ok())
        return UsageError(*shared->deps.err, "policy validate", format.status().message());
      const CommandIo io{.format = *format, .out = *shared->deps.out, .err = *shared->deps.err};
      return RunPolicyValidate(*validate_path, io);
    };
  });
}

}  // namespace

AdminClientFactory GrpcAdminClientFactory() {
  return [](const ClientConfig& config) -> absl::StatusOr<std::unique_ptr<AdminClient>> {
    absl::StatusOr<std::unique_ptr<GrpcAdminClient>> client =
        GrpcAdminClient::Create(config, kRpcTimeout);
    if (!client.ok()) return client.status();
    return std::unique_ptr<AdminClient>(*std::move(client));
  };
}

void AddKmsCommands(CLI::App& app, KmsCommandDeps deps, std::function<int()>& action) {
  auto shared = std::make_shared<Shared>();
  shared->deps = std::move(deps);
  GlobalOptions& options = shared->options;

  const std::string default_path = shared->deps.default_config_path.empty()
                                       ? std::string("~/.config/cloak/cloakctl.yaml")
                                       : shared->deps.default_config_path;
  app.add_option("--kms", options.kms, "Key service address HOST:PORT (config key `kms`)")
      ->type_name("HOST:PORT")
      ->group("Key service connection");
  app.add_option("--ca", options.ca,
                 "PEM CA certificate that signed the key service's certificate; the only "
                 "trusted root (config key `ca`)")
      ->type_name("FILE")
      ->group("Key service connection");
  app.add_option("--cert", options.cert,
                 "PEM admin client certificate for mutual TLS (config key `cert`)")
      ->type_name("FILE")
      ->group("Key service connection");
  app.add_option("--key", options.key, "PEM private key of --cert (config key `key`)")
      ->type_name("FILE")
      ->group("Key service connection");
  app.add_option("--config", options.config_path,
                 "Connection settings file (default " + default_path + ")")
      ->type_name("FILE")
      ->group("Key service connection");
  app.add_option("-o,--output", options.output, "Output format of key-service commands")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");

  AddCommand(
      app, "health", "Is the key service serving, and with which KEK version", shared, "health",
      [](AdminClient& client, const CommandIo& io) { return RunHealth(client, io); }, action);

  CLI::App* volumes = app.add_subcommand("volumes", "Volumes known to the key service");
  volumes->require_subcommand(1);
  auto list_args = std::make_shared<VolumesListArgs>();
  CLI::App* list = AddCommand(
      *volumes, "list", "List volumes (never key material)", shared, "volumes list",
      [list_args](AdminClient& client, const CommandIo& io) {
        return RunVolumesList(client, *list_args, io);
      },
      action);
  list->add_option("--limit", list_args->limit, "Show at most N volumes")
      ->check(CLI::Range(1, 1 << 30))
      ->default_str("100")
      ->type_name("N");
  list->add_flag("--all", list_args->all, "Show every volume, however many pages it takes");
  auto volume_id = std::make_shared<std::string>();
  CLI::App* show = AddCommand(
      *volumes, "show", "Show one volume and its volume record", shared, "volumes show",
      [volume_id](AdminClient& client, const CommandIo& io) {
        return RunVolumesShow(client, *volume_id, io);
      },
      action);
  show->add_option("ID", *volume_id, "Volume id")->required();

  CLI::App* kek = app.add_subcommand("kek", "Key-encryption key rotation");
  kek->require_subcommand(1);
  auto rotate_args = std::make_shared<KekRotateArgs>();
  Shared* raw = shared.get();
  CLI::App* rotate = AddCommand(
      *kek, "rotate", "Add a KEK version and rewrap every volume key under it", shared,
      "kek rotate",
      [rotate_args, raw](AdminClient& client, const CommandIo& io) {
        KekRotateArgs args = *rotate_args;
        args.progress_on_terminal = io.format == OutputFormat::kJson ? raw->deps.stderr_is_terminal
                                                                     : raw->deps.stdout_is_terminal;
        return RunKekRotate(client, args, raw->deps.clock, io);
      },
      action);
  rotate->add_flag("--wait", rotate_args->wait,
                   "Follow the rotation until it completes; exit 1 if it fails");
  AddCommand(
      *kek, "status", "Show the current or last KEK rotation", shared, "kek status",
      [](AdminClient& client, const CommandIo& io) { return RunKekStatus(client, io); }, action);

  CLI::App* audit = app.add_subcommand("audit", "The key service's hash-chained audit log");
  audit->require_subcommand(1);
  auto audit_args = std::make_shared<AuditListArgs>();
  CLI::App* audit_list = AddCommand(
      *audit, "list", "List audit entries", shared, "audit list",
      [audit_args](AdminClient& client, const CommandIo& io) {
        return RunAuditList(client, *audit_args, io);
      },
      action);
  audit_list->add_option("--from", audit_args->from_sequence, "First sequence number")
      ->default_str("1")
      ->type_name("SEQ");
  audit_list->add_option("--limit", audit_args->limit, "Show at most N entries")
      ->check(CLI::Range(1, 1 << 30))
      ->default_str("100")
      ->type_name("N");
  auto verify_args = std::make_shared<AuditVerifyArgs>();
  CLI::App* verify = AddCommand(
      *audit, "verify",
      "Fetch the whole log and recompute its hash chain here; exit 1 if it is broken", shared,
      "audit verify",
      [verify_args](AdminClient& client, const CommandIo& io) {
        return RunAuditVerify(client, *verify_args, io);
      },
      action);
  verify
      ->add_option("--expect-head", verify_args->expect_head,
                   "A head printed by an earlier verify (N entries, head HASH): the log must "
                   "still hold entry N with hash HASH (catches a cut-off tail)")
      ->type_name("N:HASH");

  AddPolicyCommands(app, shared, action);
}

}  // namespace cloak::cli
