#pragma once

// The behaviour every KeyStore implementation shares. key_store_conformance.cc holds
// the tests; each implementation's test binary instantiates them with a harness
// factory (fake_key_store_test.cc, sqlite_key_store_test.cc), so that the fake cannot
// drift from the real stores.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kms/store/key_store.h"
#include "kms/store/testing/fake_clock.h"
#include "kms/store/validation.h"
#include "kms/store/volume.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {

// Owns one fresh, empty store and the clock it reads.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  virtual KeyStore& store() = 0;
  FakeClock& clock() { return clock_; }

 private:
  FakeClock clock_;
};

struct ConformanceParam {
  std::string name;
  std::function<std::unique_ptr<StoreHarness>()> make;
};

class KeyStoreConformance : public ::testing::TestWithParam<ConformanceParam> {
 protected:
  void SetUp() override { harness_ = GetParam().make(); }
  KeyStore& store() { return harness_->store(); }
  FakeClock& clock() { return harness_->clock(); }

  std::unique_ptr<StoreHarness> harness_;
};

// The whole audit log (up to kMaxPageSize entries).
inline std::vector<AuditEntry> AllAudit(KeyStore& store) {
  absl::StatusOr<std::vector<AuditEntry>> entries = store.ListAudit(1, kMaxPageSize);
  EXPECT_TRUE(entries.ok()) << entries.status();
  return entries.ok() ? *entries : std::vector<AuditEntry>{};
}

// Creates `volume`, expecting success.
inline Volume MustCreate(KeyStore& store, const NewVolume& volume) {
  Volume stored;
  absl::Status status = store.CreateVolume(volume, TestEvent("CreateVolumeKey"), &stored);
  EXPECT_TRUE(status.ok()) << status;
  return stored;
}

inline std::string ConformanceName(const ::testing::TestParamInfo<ConformanceParam>& info) {
  return info.param.name;
}

}  // namespace cloak::kms
