#include "common/secret_bytes.h"

#include <openssl/crypto.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <ostream>

#include "spdlog/spdlog.h"

namespace cloak {
namespace {

class LockedAllocator final : public SecretAllocator {
 public:
  void* Allocate(std::size_t size) override {
    void* data = std::calloc(1, size);
    if (data == nullptr) return nullptr;
    if (mlock(data, size) != 0) {
      const int error_number = errno;
      std::call_once(warned_, [error_number] {
        spdlog::warn(
            "mlock failed ({}); secrets may be swapped out. Raise RLIMIT_MEMLOCK "
            "(ulimit -l) or grant CAP_IPC_LOCK to keep them in RAM",
            std::strerror(error_number));
      });
    }
    return data;
  }

  void Deallocate(void* data, std::size_t size) override {
    munlock(data, size);  // Harmless when the lock had failed.
    std::free(data);
  }

 private:
  std::once_flag warned_;
};

}  // namespace

SecretAllocator& DefaultSecretAllocator() {
  static LockedAllocator* const allocator = new LockedAllocator();
  return *allocator;
}

SecretBytes::SecretBytes(std::size_t size, SecretAllocator& allocator) : allocator_(&allocator) {
  if (size == 0) return;
  data_ = static_cast<std::uint8_t*>(allocator.Allocate(size));
  if (data_ == nullptr) std::abort();
  std::memset(data_, 0, size);
  size_ = size;
}

SecretBytes SecretBytes::CopyFrom(std::span<const std::uint8_t> bytes, SecretAllocator& allocator) {
  SecretBytes secret(bytes.size(), allocator);
  if (!bytes.empty()) std::memcpy(secret.data_, bytes.data(), bytes.size());
  return secret;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), allocator_(other.allocator_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = other.data_;
    size_ = other.size_;
    allocator_ = other.allocator_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Clear(); }

void SecretBytes::Clear() {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_, size_);
    allocator_->Deallocate(data_, size_);
  }
  data_ = nullptr;
  size_ = 0;
}

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  if (a.size_ != b.size_) return false;
  if (a.size_ == 0) return true;
  return CRYPTO_memcmp(a.data_, b.data_, a.size_) == 0;
}

void PrintTo(const SecretBytes& secret, std::ostream* os) {
  *os << "SecretBytes(" << secret.size() << " bytes, redacted)";
}

}  // namespace cloak
