# Every dependency comes from Debian 12 packages (scripts/install-deps.sh installs them).

find_package(Threads REQUIRED)
find_package(simdjson REQUIRED)
# Headers only in the engine-only (TSan) build: the commit queue's ring buffer.
find_package(Boost 1.81 EXACT REQUIRED)

find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
add_library(tally_xxhash INTERFACE)
target_include_directories(tally_xxhash INTERFACE ${XXHASH_INCLUDE_DIR})
target_link_libraries(tally_xxhash INTERFACE ${XXHASH_LIBRARY})
add_library(xxHash::xxhash ALIAS tally_xxhash)

if(TALLY_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TALLY_BUILD_BENCHMARKS AND NOT TALLY_SANITIZE)
  find_package(benchmark REQUIRED)
  find_package(absl REQUIRED)
endif()
if(NOT TALLY_NO_ROCKSDB_NO_BEAST)
  find_package(RocksDB REQUIRED)
  find_package(OpenSSL REQUIRED)
  find_package(prometheus-cpp REQUIRED)
  find_package(spdlog REQUIRED)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
endif()
