// Argument helpers. Wrong types are wrapper bugs and throw a TypeError;
// everything the kernel says comes back as a negative errno instead.
#include "common.h"
#include <string.h>

napi_value make_i32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  // Missing trailing arguments read as undefined.
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

void *arg_external(napi_env env, napi_value v, const char *message) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  return data;
}

bool arg_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "sixgate addon: expected a number");
    return false;
  }
  return true;
}

static bool typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, "sixgate addon: expected a typed array of another kind");
    return false;
  }
  return true;
}

bool arg_u8array(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  return typed(env, v, napi_uint8_array, (void **)data, len);
}

bool arg_i32array(napi_env env, napi_value v, int32_t **data, size_t *len) {
  return typed(env, v, napi_int32_array, (void **)data, len);
}

bool arg_f64array(napi_env env, napi_value v, double **data, size_t *len) {
  return typed(env, v, napi_float64_array, (void **)data, len);
}

bool arg_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "sixgate addon: expected a string");
    return false;
  }
  if (len + 1 > cap) {
    napi_throw_range_error(env, NULL, "sixgate addon: string too long");
    return false;
  }
  napi_get_value_string_utf8(env, v, out, cap, &len);
  return true;
}

bool arg_ring(napi_env env, napi_value *argv, ring_t *r) {
  int32_t slot_size, headroom;
  if (!arg_u8array(env, argv[0], &r->buf, &r->buf_len)) return false;
  if (!arg_i32array(env, argv[1], &r->lens, &r->lens_len)) return false;
  if (!arg_i32(env, argv[2], &slot_size) || !arg_i32(env, argv[3], &headroom)) return false;
  if (slot_size <= 0 || headroom < 0 || headroom >= slot_size) {
    napi_throw_range_error(env, NULL, "sixgate addon: bad ring geometry");
    return false;
  }
  r->slot_size = (size_t)slot_size;
  r->headroom = (size_t)headroom;
  r->slots = r->buf_len / r->slot_size;
  if (r->lens_len < r->slots) r->slots = r->lens_len;
  return true;
}

static double scratch_counters[C_COUNT_NATIVE];

bool arg_counters(napi_env env, napi_value v, double **out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) {
    // Nobody reads these; racing writes from several threads are harmless.
    *out = scratch_counters;
    return true;
  }
  size_t len;
  if (!arg_f64array(env, v, out, &len)) return false;
  if (len < C_COUNT_NATIVE) {
    napi_throw_range_error(env, NULL, "sixgate addon: counters array too short");
    return false;
  }
  return true;
}

void export_all(napi_env env, napi_value exports, const export_t *list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value fn;
    napi_create_function(env, list[i].name, NAPI_AUTO_LENGTH, list[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, list[i].name, fn);
  }
}
