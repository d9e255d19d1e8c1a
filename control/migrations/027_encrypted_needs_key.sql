-- SPDX-License-Identifier: MIT
-- An encrypted asset registered without "key" keeps the content key stored for its title; when
-- none is stored, the registration is refused (400) and nothing changes. It was accepted, and
-- the title was then unplayable: a manifest with ClearKey ContentProtection whose licence
-- request found no key and was refused as "title is not encrypted".
--
-- As in 026, with that case added; like the migrations since 019, it can run again.
CREATE OR REPLACE FUNCTION sluice_register_title(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        enc jsonb := doc->'asset'->'encryption';
        stored bytea;
BEGIN
        IF octet_length(doc->>'title') > 63 THEN
                PERFORM sluice_fail('SL400', 'asset.title: longer than 63 bytes');
        END IF;
        IF jsonb_typeof(enc) = 'object' AND jsonb_typeof(doc->'key') IS DISTINCT FROM 'object'
        THEN
                SELECT kid INTO stored FROM content_keys WHERE asset_id = doc->>'title';
                IF NOT FOUND THEN
                        PERFORM sluice_fail('SL400', 'key: an encrypted asset needs its content '
                                || 'key ("key": {"kid","key"}); none is stored for this title');
                END IF;
                IF coalesce(enc->>'kid', '') ~ '^[0-9a-fA-F]{32}$'
                   AND stored <> decode(enc->>'kid', 'hex') THEN
                        PERFORM sluice_fail('SL409', 'asset.encryption.kid differs from the '
                                || 'stored content key''s kid; give the new "key" with it');
                END IF;
        END IF;
        RETURN sluice_register_title_apply(doc);
END $$;
