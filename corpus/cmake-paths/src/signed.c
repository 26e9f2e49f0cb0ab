int signed_api(int x) { return x + 1; }
int signed_internal(int x) { return x - 1; }
