#!/usr/bin/env bash
# moto server (the KMS API) for @cmek/provider-aws-kms, on 127.0.0.1:${CMEK_MOTO_PORT:-45329}.
#
#   moto.sh start       start it in the background (idempotent); writes moto.env (CMEK_KMS_ENDPOINT)
#   moto.sh stop        stop the instance this state dir started
#   moto.sh run PORT    run one in the foreground (exec, so the caller's pid is the server's):
#                       for a test that needs a server it may kill
#
# Needs Python 3 with `moto[server]` (`moto_server`); installs it with pip when missing.
#
# moto models KMS keys but not their states for cryptographic operations: it encrypts and
# decrypts under a disabled key, and answers AccessDeniedException where AWS answers
# IncorrectKeyException. The server is therefore started through the small launcher below, which
# adds exactly these rules from the AWS documentation (Key states of KMS keys; Decrypt API
# reference) and nothing else:
#   - Encrypt, GenerateDataKey, Decrypt, ReEncrypt on a Disabled key     -> DisabledException
#   - the same on a key in any other non-Enabled state (PendingDeletion)  -> KMSInvalidStateException
#   - Decrypt whose KeyId, or ReEncrypt whose SourceKeyId, is not the key that encrypted the
#     ciphertext (moto ignores SourceKeyId and answers AccessDeniedException)  -> IncorrectKeyException
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${CMEK_MOTO_PORT:-45329}
PIDFILE=$CMEK_STATE_DIR/moto.pid
LOGFILE=$CMEK_STATE_DIR/moto.log
PYTHON=${CMEK_PYTHON:-python3}

read -r -d '' LAUNCHER <<'PY' || true
import sys

from moto.core.exceptions import JsonRESTError
from moto.kms import utils
from moto.kms.models import KmsBackend
from moto.kms.responses import KmsResponse
from moto.server import main


def _require_enabled(backend, key_id):
    key = backend.keys.get(key_id)
    if key is None:
        return  # moto answers NotFoundException / AccessDeniedException itself
    if key.key_state == "Disabled":
        raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state != "Enabled":
        raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")


def _require_named(backend, ciphertext_blob, key_id):
    """AWS: a KeyId / SourceKeyId other than the key that encrypted the blob is IncorrectKeyException."""
    try:
        named = utils._deserialize_ciphertext_blob(ciphertext_blob).key_id
    except Exception:
        return  # not a moto blob: moto answers InvalidCiphertextException itself
    try:
        requested = backend.any_id_to_key_id(key_id)
    except Exception:
        requested = None
    if named != requested:
        raise JsonRESTError(
            "IncorrectKeyException",
            "The key ID in the request does not identify a KMS key that can perform this operation.",
        )


_encrypt = KmsBackend.encrypt
_decrypt = KmsBackend.decrypt
_re_encrypt_response = KmsResponse.re_encrypt


def encrypt(self, key_id, plaintext, encryption_context):
    _require_enabled(self, self.any_id_to_key_id(key_id))
    return _encrypt(self, key_id=key_id, plaintext=plaintext, encryption_context=encryption_context)


def decrypt(self, ciphertext_blob, encryption_context, key_id=None):
    if key_id is not None:
        _require_named(self, ciphertext_blob, key_id)
    plaintext, arn = _decrypt(
        self, ciphertext_blob=ciphertext_blob, encryption_context=encryption_context
    )
    _require_enabled(self, self.any_id_to_key_id(arn))
    return plaintext, arn


def re_encrypt(self):
    source = self._get_param("SourceKeyId")
    if source:
        _require_named(self.kms_backend, self._get_param("CiphertextBlob"), source)
    return _re_encrypt_response(self)


KmsBackend.encrypt = encrypt  # GenerateDataKey and ReEncrypt go through encrypt and decrypt
KmsBackend.decrypt = decrypt
KmsResponse.re_encrypt = re_encrypt
print("moto_server with KMS key-state rules (scripts/services/moto.sh)", file=sys.stderr, flush=True)
main(sys.argv[1:])
PY

ensure_moto() {
  if "$PYTHON" -c 'import moto.server, flask, flask_cors' 2>/dev/null; then return 0; fi
  log "moto: installing moto[server] with pip"
  "$PYTHON" -m pip install --quiet 'moto[server]'
}

case ${1:-} in
start)
  if pid_alive "$PIDFILE" && port_open "$PORT"; then
    write_env moto "CMEK_KMS_ENDPOINT=http://127.0.0.1:$PORT"
    exit 0
  fi
  if port_open "$PORT"; then
    log "moto: 127.0.0.1:$PORT is taken by a process this state dir did not start; set CMEK_MOTO_PORT"
    exit 1
  fi
  ensure_moto
  setsid "$PYTHON" -c "$LAUNCHER" -H 127.0.0.1 -p "$PORT" </dev/null >"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  if ! wait_for_port "$PORT" 60; then
    log "moto: did not listen on 127.0.0.1:$PORT; last lines of $LOGFILE:"
    tail -n 20 "$LOGFILE" >&2 || true
    stop_pidfile "$PIDFILE"
    exit 1
  fi
  write_env moto "CMEK_KMS_ENDPOINT=http://127.0.0.1:$PORT"
  echo started
  ;;
stop)
  stop_pidfile "$PIDFILE"
  ;;
run)
  [[ ${2:-} =~ ^[0-9]+$ ]] || { log "usage: moto.sh run PORT"; exit 2; }
  ensure_moto
  exec "$PYTHON" -c "$LAUNCHER" -H 127.0.0.1 -p "$2"
  ;;
*)
  log "usage: moto.sh start|stop|run PORT"
  exit 2
  ;;
esac
