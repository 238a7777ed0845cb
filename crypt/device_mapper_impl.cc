// The only file that includes <libdevmapper.h>.

#include "crypt/device_mapper_impl.h"

#include <libdevmapper.h>
#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

struct TaskDeleter {
  void operator()(dm_task* task) const { dm_task_destroy(task); }
};
using Task = std::unique_ptr<dm_task, TaskDeleter>;

absl::Status TaskError(dm_task* task, std::string_view step, const std::string& name) {
  const int error_number = task != nullptr ? dm_task_get_errno(task) : 0;
  const std::string context = fmt::format("device-mapper {} of {}", step, name);
  if (error_number != 0) return ErrnoToStatus(error_number, context);
  return absl::InternalError(context + " failed");
}

// Runs a `type` task on `name`; NOT_FOUND when the device does not exist.
absl::StatusOr<Task> Run(int type, const std::string& name, std::string_view step,
                         bool secure = false) {
  Task task(dm_task_create(type));
  if (!task) return absl::ResourceExhaustedError("device-mapper: cannot create a task");
  if (!dm_task_set_name(task.get(), name.c_str())) return TaskError(task.get(), step, name);
  // Asks the kernel and libdevmapper to wipe the ioctl buffers (they may hold a key).
  if (secure && !dm_task_secure_data(task.get())) return TaskError(task.get(), step, name);
  if (!dm_task_run(task.get())) {
    if (dm_task_get_errno(task.get()) == ENXIO || dm_task_get_errno(task.get()) == ENODEV) {
      return absl::NotFoundError(fmt::format("device-mapper device {} does not exist", name));
    }
    return TaskError(task.get(), step, name);
  }
  dm_info info{};
  if (!dm_task_get_info(task.get(), &info)) return TaskError(task.get(), step, name);
  if (!info.exists) {
    return absl::NotFoundError(fmt::format("device-mapper device {} does not exist", name));
  }
  return task;
}

absl::StatusOr<std::vector<DmTarget>> Targets(int type, const std::string& name,
                                              std::string_view step) {
  const bool table = type == DM_DEVICE_TABLE;
  ASSIGN_OR_RETURN(Task task, Run(type, name, step, /*secure=*/table));
  std::vector<DmTarget> targets;
  void* next = nullptr;
  do {
    std::uint64_t start = 0;
    std::uint64_t length = 0;
    char* target_type = nullptr;
    char* params = nullptr;
    next = dm_get_next_target(task.get(), next, &start, &length, &target_type, &params);
    if (target_type == nullptr) break;
    DmTarget target{start, length, target_type, ""};
    if (params != nullptr) {
      if (table && target.type == "crypt") {
        target.params = RedactCryptKey(params);
        OPENSSL_cleanse(params, std::strlen(params));  // a hex key would sit here
      } else {
        target.params = params;
      }
    }
    targets.push_back(std::move(target));
  } while (next != nullptr);
  return targets;
}

class LibDeviceMapper final : public DeviceMapper {
 public:
  absl::StatusOr<DmDeviceInfo> Info(const std::string& name) override {
    ASSIGN_OR_RETURN(Task task, Run(DM_DEVICE_INFO, name, "info"));
    dm_info info{};
    if (!dm_task_get_info(task.get(), &info)) return TaskError(task.get(), "info", name);
    DmDeviceInfo out;
    out.major = info.major;
    out.minor = info.minor;
    out.open_count = info.open_count;
    out.suspended = info.suspended != 0;
    out.read_only = info.read_only != 0;
    if (const char* uuid = dm_task_get_uuid(task.get()); uuid != nullptr) out.uuid = uuid;
    return out;
  }

  absl::StatusOr<std::vector<DmTarget>> Table(const std::string& name) override {
    return Targets(DM_DEVICE_TABLE, name, "table");
  }

  absl::StatusOr<std::vector<DmTarget>> Status(const std::string& name) override {
    return Targets(DM_DEVICE_STATUS, name, "status");
  }

  absl::Status Remove(const std::string& name) override {
    ASSIGN_OR_RETURN(DmDeviceInfo info, Info(name));
    if (info.open_count > 0) {
      return absl::UnavailableError(
          fmt::format("device-mapper device {} is open {} time(s); close its users first", name,
                      info.open_count));
    }
    Task task(dm_task_create(DM_DEVICE_REMOVE));
    if (!task) return absl::ResourceExhaustedError("device-mapper: cannot create a task");
    if (!dm_task_set_name(task.get(), name.c_str())) return TaskError(task.get(), "remove", name);
    dm_task_retry_remove(task.get());
    if (!dm_task_run(task.get())) return TaskError(task.get(), "remove", name);
    dm_task_update_nodes();
    return absl::OkStatus();
  }

  absl::Status CreateReadOnlyLinear(const std::string& name, std::uint32_t source_major,
                                    std::uint32_t source_minor, std::uint64_t sectors) override {
    if (Info(name).ok()) {
      return absl::AlreadyExistsError(fmt::format("device-mapper device {} already exists", name));
    }
    ASSIGN_OR_RETURN(Task task, LinearTask(DM_DEVICE_CREATE, name, source_major, source_minor,
                                           sectors, "create"));
    // Creating with a table loads it and resumes the device in one run.
    return RunWithNodes(task.get(), "create", name);
  }

  absl::Status ReloadReadOnlyLinear(const std::string& name, std::uint32_t source_major,
                                    std::uint32_t source_minor, std::uint64_t sectors) override {
    RETURN_IF_ERROR(Info(name).status());
    ASSIGN_OR_RETURN(Task reload, LinearTask(DM_DEVICE_RELOAD, name, source_major, source_minor,
                                             sectors, "reload"));
    if (!dm_task_run(reload.get())) return TaskError(reload.get(), "reload", name);
    Task resume(dm_task_create(DM_DEVICE_RESUME));
    if (!resume) return absl::ResourceExhaustedError("device-mapper: cannot create a task");
    if (!dm_task_set_name(resume.get(), name.c_str())) {
      return TaskError(resume.get(), "resume", name);
    }
    return RunWithNodes(resume.get(), "resume", name);
  }

 private:
  // A `type` task on `name` carrying one read-only linear target over the source.
  static absl::StatusOr<Task> LinearTask(int type, const std::string& name,
                                         std::uint32_t source_major, std::uint32_t source_minor,
                                         std::uint64_t sectors, std::string_view step) {
    Task task(dm_task_create(type));
    if (!task) return absl::ResourceExhaustedError("device-mapper: cannot create a task");
    const std::string params = fmt::format("{}:{} 0", source_major, source_minor);
    if (!dm_task_set_name(task.get(), name.c_str()) || !dm_task_set_ro(task.get()) ||
        !dm_task_add_target(task.get(), 0, sectors, "linear", params.c_str())) {
      return TaskError(task.get(), step, name);
    }
    return task;
  }

  // Runs a task that makes a device live and waits until its /dev/mapper node exists
  // (udev makes it where udev runs; libdevmapper itself where it does not).
  static absl::Status RunWithNodes(dm_task* task, std::string_view step, const std::string& name) {
    std::uint32_t cookie = 0;
    if (!dm_task_set_cookie(task, &cookie, 0)) return TaskError(task, step, name);
    const bool ran = dm_task_run(task) != 0;
    absl::Status status = ran ? absl::OkStatus() : TaskError(task, step, name);
    dm_udev_wait(cookie);
    return status;
  }
};

}  // namespace

std::unique_ptr<DeviceMapper> NewLibDeviceMapper() { return std::make_unique<LibDeviceMapper>(); }

}  // namespace cloak::crypt
