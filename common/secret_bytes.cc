#include "common/secret_bytes.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <ostream>

#include "spdlog/spdlog.h"

namespace cloak {
namespace {

// OpenSSL's secure heap: one arena, mmap'ed with guard pages, mlock'ed and marked
// MADV_DONTDUMP, so secrets are neither swapped nor written into a core dump; also used by
// OpenSSL itself for private-key BIGNUMs. Allocation is a free-list lookup, not a syscall.
constexpr std::size_t kSecureHeapSize = std::size_t{4} << 20;  // a power of two
constexpr std::size_t kSecureHeapMinimum = 32;

class LockedAllocator final : public SecretAllocator {
 public:
  LockedAllocator() {
    const int initialised = CRYPTO_secure_malloc_init(kSecureHeapSize, kSecureHeapMinimum);
    secure_heap_ = initialised != 0;
    if (initialised != 1) {
      spdlog::warn("the locked secret heap is {}; secrets use individually locked pages instead",
                   initialised == 0 ? "unavailable"
                                    : "not locked (raise RLIMIT_MEMLOCK or grant "
                                      "CAP_IPC_LOCK)");
    }
  }

  void* Allocate(std::size_t size) override {
    if (secure_heap_) {
      void* data = CRYPTO_secure_zalloc(size, OPENSSL_FILE, OPENSSL_LINE);
      if (data != nullptr) return data;
    }
    return AllocatePages(size);
  }

  void Deallocate(void* data, std::size_t size) override {
    if (secure_heap_ && CRYPTO_secure_allocated(data)) {
      CRYPTO_secure_clear_free(data, size, OPENSSL_FILE, OPENSSL_LINE);
      return;
    }
    munmap(data, RoundToPages(size));  // munmap also drops the lock
  }

 private:
  static std::size_t RoundToPages(std::size_t size) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return (size + page - 1) / page * page;
  }

  // The heap is full or unavailable: whole pages of our own, so that unlocking them
  // never unlocks a neighbour's secret on a shared page.
  void* AllocatePages(std::size_t size) {
    void* data = mmap(nullptr, RoundToPages(size), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) return nullptr;
    madvise(data, RoundToPages(size), MADV_DONTDUMP);
    if (mlock(data, RoundToPages(size)) != 0) {
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

  bool secure_heap_ = false;
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
