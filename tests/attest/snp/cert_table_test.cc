#include "attest/snp/cert_table.h"

#include "gtest/gtest.h"

namespace cloak::attest::snp {
namespace {

std::vector<std::uint8_t> Table() {
  return BuildCertTable({{kVcekGuid, "vcek-bytes"},
                         {kVlekGuid, "vlek-bytes"},
                         {kAskGuid, "ask"},
                         {kArkGuid, "ark-bytes"}});
}

void PutLe32(std::vector<std::uint8_t>& b, std::size_t off, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

TEST(SnpCertTable, RoundTrips) {
  auto t = ParseCertTable(Table());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->vcek, "vcek-bytes");
  EXPECT_EQ(t->ask, "ask");
  EXPECT_EQ(t->ark, "ark-bytes");
}

TEST(SnpCertTable, EmptyInputAndPageTailAreFine) {
  auto empty = ParseCertTable({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->vcek.empty());
  auto padded = Table();
  padded.resize(4096, 0);  // the kernel hands out whole pages
  auto t = ParseCertTable(padded);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->vcek, "vcek-bytes");
  std::vector<std::uint8_t> zeros(4096, 0);  // a host without certificates
  EXPECT_TRUE(ParseCertTable(zeros).ok());
}

TEST(SnpCertTable, UsesRfc4122ByteOrderForGuids) {
  // 63da758d-e664-4564-adc5-f4b93be8accd, in the order the string reads.
  EXPECT_EQ(kVcekGuid[0], 0x63);
  EXPECT_EQ(kVcekGuid[3], 0x8d);
  EXPECT_EQ(kVcekGuid[4], 0xe6);
  EXPECT_EQ(kAskGuid[0], 0x4a);
  EXPECT_EQ(kArkGuid[15], 0xae);
}

TEST(SnpCertTable, RefusesMalformedTables) {
  const auto good = Table();
  struct Case {
    const char* name;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"truncated header", {good.begin(), good.begin() + 30}});
  {
    auto b = good;  // offset past the end
    PutLe32(b, 16, static_cast<std::uint32_t>(b.size()) + 1);
    cases.push_back({"offset past end", b});
  }
  {
    auto b = good;  // length past the end
    PutLe32(b, 20, 0xFFFFFFF0u);
    cases.push_back({"length past end", b});
  }
  {
    auto b = good;  // data inside the headers
    PutLe32(b, 16, 0);
    cases.push_back({"overlaps headers", b});
  }
  {
    auto b = good;  // zero-length ASK
    PutLe32(b, 2 * 24 + 20, 0);
    cases.push_back({"empty ASK", b});
  }
  {
    auto b = good;  // terminator with garbage
    PutLe32(b, 4 * 24 + 16, 5);
    cases.push_back({"bad terminator", b});
  }
  {
    auto b = BuildCertTable({{kVcekGuid, "a"}, {kVcekGuid, "b"}});
    cases.push_back({"duplicate VCEK", b});
  }
  {
    std::vector<std::uint8_t> b(24 * 3, 0xAB);  // no terminator at all
    cases.push_back({"no terminator", b});
  }
  cases.push_back({"too large", std::vector<std::uint8_t>(kMaxCertTableSize + 1, 0)});
  for (const Case& c : cases) {
    auto t = ParseCertTable(c.bytes);
    EXPECT_FALSE(t.ok()) << c.name;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kUnauthenticated) << c.name;
  }
}

}  // namespace
}  // namespace cloak::attest::snp
