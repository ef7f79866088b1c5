#include <catch2/catch.hpp>

#include <llmpt/download.hpp>

using llmpt::path_selected;

TEST_CASE("include/exclude follow huggingface_hub's fnmatch rules") {
    CHECK(path_selected("a.bin", {}, {}));
    CHECK(path_selected("model.safetensors", {"*.safetensors"}, {}));
    // '*' crosses '/', as Python's fnmatch
    CHECK(path_selected("sub/dir/model.safetensors", {"*.safetensors"}, {}));
    CHECK_FALSE(path_selected("model.bin", {"*.safetensors"}, {}));
    CHECK_FALSE(path_selected("model.bin", {}, {"*.bin"}));
    CHECK_FALSE(path_selected("x.safetensors", {"*.safetensors"}, {"x*"}));
    // a trailing '/' means the whole folder
    CHECK(path_selected("onnx/model.onnx", {"onnx/"}, {}));
    CHECK_FALSE(path_selected("onnx.txt", {"onnx/"}, {}));
    CHECK(path_selected("a1.txt", {"a?.txt"}, {}));
    CHECK(path_selected("b.txt", {"[ab].txt"}, {}));
    CHECK_FALSE(path_selected("c.txt", {"[ab].txt"}, {}));
}
