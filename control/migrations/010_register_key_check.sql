-- SPDX-License-Identifier: MIT
-- Re-registering an encrypted asset with a new encryption.kid and no "key" kept the old
-- content key: the MPD named the new default_KID and every licence request was refused. Such
-- a registration is now refused (409) before anything changes; one with the same kid and no
-- "key" keeps the stored key, as before.
--
-- The registration body stays as it was, under a new name; sluice_register_title checks and
-- calls it, so every instance (older ones too) goes through the check.
ALTER FUNCTION sluice_register_title(jsonb) RENAME TO sluice_register_title_apply;

CREATE FUNCTION sluice_register_title(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        enc jsonb := doc->'asset'->'encryption';
        stored bytea;
BEGIN
        IF jsonb_typeof(enc) = 'object' AND jsonb_typeof(doc->'key') IS DISTINCT FROM 'object'
           AND coalesce(enc->>'kid', '') ~ '^[0-9a-fA-F]{32}$' THEN
                SELECT kid INTO stored FROM content_keys WHERE asset_id = doc->>'title';
                IF FOUND AND stored <> decode(enc->>'kid', 'hex') THEN
                        PERFORM sluice_fail('SL409', 'asset.encryption.kid differs from the '
                                || 'stored content key''s kid; give the new "key" with it');
                END IF;
        END IF;
        RETURN sluice_register_title_apply(doc);
END $$;
