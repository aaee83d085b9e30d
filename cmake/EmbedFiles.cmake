# Turns files into a C++ source defining tally::ingest::web_assets() (see ingest/src/web.h).
# Usage: cmake -DOUTPUT=out.cc "-DFILES=a|b|c" -P EmbedFiles.cmake
string(REPLACE "|" ";" FILES "${FILES}")
set(body "")
set(table "")
set(index 0)
list(SORT FILES)
foreach(path IN LISTS FILES)
  get_filename_component(name ${path} NAME)
  file(READ ${path} hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n    " bytes "${bytes}")
  string(APPEND body "constexpr unsigned char kFile${index}[] = {\n    ${bytes}0x00};\n")
  string(APPEND table "    {\"${name}\", std::string_view(reinterpret_cast<const char*>(kFile${index}), ${size})},\n")
  math(EXPR index "${index} + 1")
endforeach()
set(text "// Generated from web/ by cmake/EmbedFiles.cmake at build time: do not edit.
#include \"web.h\"

#include <iterator>

namespace tally::ingest {
namespace {
${body}
const WebAsset kAssets[] = {
${table}    {\"\", std::string_view()},
};
}  // namespace

std::span<const WebAsset> web_assets() { return {kAssets, std::size(kAssets) - 1}; }

}  // namespace tally::ingest
")
file(WRITE ${OUTPUT}.tmp "${text}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
