// Checkpoints signed here verify with the openssl command, as an outsider checks them
// (docs/EVENT_FORMAT.md "Checkpoint"), and every changed field breaks the signature.
#include "tally/publog/checkpoint.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tally/publog/log_keys.h"
#include "log_world.h"

namespace tally::publog {
namespace {

void write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Checkpoint, MessageIsTheDocumentedBytes) {
  Checkpoint c;
  c.log_id = std::string(64, 'a');
  c.size = 812;
  c.root = leaf_hash("");
  c.time_ms = 1680000000123;
  EXPECT_EQ(checkpoint_message(c),
            "tally checkpoint v1\n" + std::string(64, 'a') +
                "\n812\n6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\n"
                "1680000000123\n");
}

TEST(Checkpoint, SignedHereVerifiesWithTheOpensslCommand) {
  tally::testing::TempDir dir;
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  auto checkpoint = key->sign(8, leaf_hash("x"), 1700000000000);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_TRUE(key->public_key().verifies(*checkpoint));
  const std::filesystem::path root(dir.path());
  write(root / "key.pem", key->public_key().pem());
  write(root / "message", checkpoint_message(*checkpoint));
  write(root / "signature",
        std::string(reinterpret_cast<const char*>(checkpoint->signature.data()),
                    checkpoint->signature.size()));
  const std::string command = "openssl pkeyutl -verify -pubin -inkey " + (root / "key.pem").string() +
                              " -rawin -in " + (root / "message").string() + " -sigfile " +
                              (root / "signature").string() + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0);
  // The log id is the SHA-256 of the key's 32 raw bytes, the last of its DER form.
  const std::string der = (root / "key.der").string();
  ASSERT_EQ(std::system(("openssl pkey -pubin -in " + (root / "key.pem").string() +
                         " -outform DER -out " + der)
                            .c_str()),
            0);
  std::ifstream in(der, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 44u);
  Hash id{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()) + 12, 32, id.data());
  EXPECT_EQ(key->public_key().log_id(), to_hex(id));
}

TEST(Checkpoint, KeysMadeByOpensslSignAndEveryChangedFieldFailsToVerify) {
  tally::testing::TempDir dir;
  const std::string pem_path = std::string(dir.path()) + "/k.pem";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm ed25519 -out " + pem_path).c_str()), 0);
  std::ifstream in(pem_path);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto key = SigningKey::from_pem(pem);
  ASSERT_TRUE(key.ok()) << key.message();
  auto checkpoint = key->sign(5, leaf_hash("a"), 42);
  ASSERT_TRUE(checkpoint.ok());
  auto parsed = parse_checkpoint(checkpoint_json(*checkpoint));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(*parsed, *checkpoint);
  EXPECT_TRUE(key->public_key().verifies(*parsed));
  Checkpoint changed = *checkpoint;
  changed.size = 6;
  EXPECT_FALSE(key->public_key().verifies(changed));
  changed = *checkpoint;
  changed.root[0] ^= 1;
  EXPECT_FALSE(key->public_key().verifies(changed));
  changed = *checkpoint;
  changed.time_ms = 43;
  EXPECT_FALSE(key->public_key().verifies(changed));
  changed = *checkpoint;
  changed.signature[10] ^= 1;
  EXPECT_FALSE(key->public_key().verifies(changed));
  auto other = SigningKey::generate();
  EXPECT_FALSE(other->public_key().verifies(*checkpoint));
  changed = *checkpoint;
  changed.log_id = other->public_key().log_id();
  EXPECT_FALSE(other->public_key().verifies(changed));
}

TEST(Checkpoint, ParseNamesTheBadField) {
  EXPECT_EQ(parse_checkpoint("{}").message(), "checkpoint: log_id: must be 64 hex digits");
  EXPECT_EQ(parse_checkpoint("[").message(), "checkpoint: not a JSON document");
  const std::string good = R"({"log_id":")" + std::string(64, 'a') + R"(","size":1,"root":")" +
                           std::string(64, '0') + R"(","time_ms":1,"signature":")" +
                           std::string(127, '0') + R"("})";
  EXPECT_EQ(parse_checkpoint(good).message(), "checkpoint: signature: must be 128 hex digits");
}

TEST(LogKeys, CreatedOnceReadBackAndNeverReplaced) {
  tally::testing::TempDir dir;
  const std::string keys_dir = std::string(dir.path()) + "/keys";
  EXPECT_FALSE(log_keys_exist(keys_dir));
  auto made = create_log_keys(keys_dir);
  ASSERT_TRUE(made.ok()) << made.message();
  EXPECT_TRUE(log_keys_exist(keys_dir));
  EXPECT_EQ(std::filesystem::status(keys_dir + "/signing-key.pem").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto read = read_log_keys(keys_dir);
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(read->signing.public_key().log_id(), made->signing.public_key().log_id());
  EXPECT_EQ(read->tags.hex(), made->tags.hex());
  EXPECT_FALSE(create_log_keys(keys_dir).ok());
  write(keys_dir + "/tag-secret", "not hex\n");
  EXPECT_NE(read_log_keys(keys_dir).message().find("tag-secret: tag secret: must be 64 hex digits"),
            std::string::npos);
}

}  // namespace
}  // namespace tally::publog
