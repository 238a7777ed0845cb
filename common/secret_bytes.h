#pragma once

// SecretBytes: the one type that holds key material in Cloak.
//
// Move-only; the buffer is locked into RAM (mlock) and left out of core dumps, wiped with
// OPENSSL_cleanse before it is released (on destruction, on move-assignment over an
// existing buffer, and on Resize), and has no printable form. Equality is constant-time
// in the contents. The raw bytes are reachable only through SecretData() /
// MutableSecretData(), so every use of key bytes can be found with grep.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>

namespace cloak {

// Where SecretBytes gets its memory. The default locks pages with mlock; tests inject
// their own to observe that memory is wiped before it is given back.
class SecretAllocator {
 public:
  virtual ~SecretAllocator() = default;
  // Returns `size` bytes (size > 0), or nullptr when memory is exhausted.
  virtual void* Allocate(std::size_t size) = 0;
  // Releases memory returned by Allocate. The caller has already wiped it.
  virtual void Deallocate(void* data, std::size_t size) = 0;
};

// The process-wide default: OpenSSL's secure heap (a locked arena, excluded from core
// dumps), falling back to locked pages of their own when the arena is full or cannot be
// set up; warns once (through the default logger) when memory cannot be locked.
// Thread-safe.
SecretAllocator& DefaultSecretAllocator();

class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes. Aborts on allocation failure, like operator new.
  explicit SecretBytes(std::size_t size, SecretAllocator& allocator = DefaultSecretAllocator());
  // A secret copy of `bytes`; the caller remains responsible for wiping its source.
  static SecretBytes CopyFrom(std::span<const std::uint8_t> bytes,
                              SecretAllocator& allocator = DefaultSecretAllocator());

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The raw bytes. Keep their use short and local: hand them to a crypto API or the
  // kernel, never to a std::string, a log line, a file or a command line.
  const std::uint8_t* SecretData() const { return data_; }
  std::uint8_t* MutableSecretData() { return data_; }
  std::span<const std::uint8_t> SecretSpan() const { return {data_, size_}; }

  // Wipes and releases the buffer; afterwards empty().
  void Clear();

  // Constant-time in the contents (CRYPTO_memcmp); the sizes are not secret.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

  // No printable form: streaming a secret is a compile error.
  friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  SecretAllocator* allocator_ = nullptr;
};

// For GoogleTest failure messages: prints only the size.
void PrintTo(const SecretBytes& secret, std::ostream* os);

}  // namespace cloak
