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
  write(root / "signature", std::string(reinterpret_cast<const char*>(checkpoint->signature.data()),
                                        checkpoint->signature.size()));
  const std::string command = "openssl pkeyutl -verify -pubin -inkey " +
                              (root / "key.pem").string() + " -rawin -in " +
                              (root / "message").string() + " -sigfile " +
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

// docs/EVENT_FORMAT.md "Worked example": three leaves (two epoch events around the vote of
// public_event_test), their tree and proofs, and a checkpoint signed with the key of RFC 8032's
// first Ed25519 test vector. Ed25519 signatures are deterministic: the values were made with
// Python's hashlib and the openssl command, and this build must give the same bytes.
TEST(Checkpoint, TheWorkedExampleOfTheDocument) {
  const std::string vote =
      R"({"kind":"vote","campaign":"ordos-2023-zuimei","candidate":"c07",)"
      R"("voter":"9005c99406f6874ab689093c9b06b1e2","device":"2402f998bf9546ba81897b13be19642c",)"
      R"("ip":"a64ed53287f38f6f9e258a4304f9243f",)"
      R"("ua":"Mozilla/5.0 (iPhone; CPU iPhone OS 16_3 like Mac OS X) MicroMessenger/8.0.33",)"
      R"("ts":1680054000000,"request_id":"5898c7c82fd541529b2c19b49fb7c3e5",)"
      R"("server_ms":1680054000123,"period":19445,"flags":["ip_flood"]})";
  const Hash leaves[] = {
      leaf_hash(R"({"kind":"epoch","node":"a","epoch":1,"server_ms":1680054000000})"),
      leaf_hash(vote),
      leaf_hash(R"({"kind":"epoch","node":"b","epoch":2,"server_ms":1680054000500})")};
  EXPECT_EQ(to_hex(leaves[0]), "4dddd6640d5be5f915f2516a843e67e987347bfb50abd6c53f3a7a7374084772");
  EXPECT_EQ(to_hex(leaves[1]), "734b55e6b90a0a0f11771cc4c88f13a1aff40d0e4db6ad3276aef7b483b4e0f0");
  EXPECT_EQ(to_hex(leaves[2]), "c7f561e85275f5aabb1687bbe369adb17977a4ace762aadae26944fa7ce4231d");
  const Hash left = node_hash(leaves[0], leaves[1]);
  EXPECT_EQ(to_hex(left), "4001020a653d8e7f3093e568773f14f2a879785abbe72086640e525d18057f3d");
  const Hash root = root_of_leaves(leaves);
  EXPECT_EQ(to_hex(root), "b7abab4d5a6b0fa663413be21879a2b4dd7a0d6fc5d6da5989354d05a38601f1");
  // The inclusion proof of seq 2 in the tree of 3 is [leaf 1, leaf 3]; the consistency proof
  // from 2 to 3 is [leaf 3].
  const Hash path[] = {leaves[0], leaves[2]};
  EXPECT_TRUE(verify_inclusion(leaves[1], 1, 3, path, root));
  const Hash consistency[] = {leaves[2]};
  EXPECT_TRUE(verify_consistency(2, 3, left, root, consistency));

  auto key = SigningKey::from_pem(
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
      "-----END PRIVATE KEY-----\n");
  ASSERT_TRUE(key.ok()) << key.message();
  EXPECT_EQ(key->public_key().pem(),
            "-----BEGIN PUBLIC KEY-----\n"
            "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
            "-----END PUBLIC KEY-----\n");
  EXPECT_EQ(key->public_key().log_id(),
            "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9");
  auto checkpoint = key->sign(3, root, 1680054001000);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(to_hex(checkpoint->signature),
            "f4cffb5c99eafa3293adec9a73a68f1bcdce4c7ab2ecdc64c79a11c61ce2f2da"
            "aa452113b52f8c0568302e9ccb177f0941789b7f5037d0f8007767d9b043c303");
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
