-- A signed device request prunes that device's expired nonces before it records its own: with
-- this index that is a short range scan, not a walk over every nonce the device has sent.
CREATE INDEX device_nonces_by_device_expiry ON device_nonces (device_id, expires_at);
