# tally::commit_pipeline: the group-commit queue and writer loop, without RocksDB, so that TSan
# covers it. Included by storage/CMakeLists.txt, and by tests/storage when only the
# RocksDB-free targets are built (TALLY_NO_ROCKSDB_NO_BEAST, the TSan build).
if(NOT TARGET tally_commit_pipeline)
  add_library(tally_commit_pipeline STATIC ${CMAKE_CURRENT_LIST_DIR}/src/commit_pipeline.cc)
  add_library(tally::commit_pipeline ALIAS tally_commit_pipeline)
  target_include_directories(tally_commit_pipeline PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
  target_link_libraries(tally_commit_pipeline PUBLIC tally::engine Boost::headers Threads::Threads)
  tally_target_options(tally_commit_pipeline)
endif()
