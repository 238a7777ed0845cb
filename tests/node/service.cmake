# NodeService over fakes (the real crypt Engine on tests/crypt's fakes).
cloak_test(node_service_unit_test
  SOURCES node_service_test.cc
  LIBS cloak::node_service cloak_crypt_test_support nlohmann_json::nlohmann_json absl::strings
  LABELS unit)
