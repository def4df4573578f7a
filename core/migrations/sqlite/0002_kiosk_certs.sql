-- Kiosk client certificates (issue 3). A kiosk authenticates over HTTPS with a client
-- certificate signed by the CA in the data directory; the certificate it was last issued is
-- pinned here by its SHA-256 fingerprint (hex of the DER), so re-issuing one retires the old
-- one. revoked_at (Unix ms) refuses the pinned certificate from then on. The keys themselves
-- never enter the database.
ALTER TABLE kiosks ADD COLUMN cert_serial TEXT;
ALTER TABLE kiosks ADD COLUMN cert_sha256 TEXT;
ALTER TABLE kiosks ADD COLUMN cert_issued_at INTEGER;
ALTER TABLE kiosks ADD COLUMN cert_not_after INTEGER;
ALTER TABLE kiosks ADD COLUMN revoked_at INTEGER;
CREATE UNIQUE INDEX kiosks_cert_sha256 ON kiosks (cert_sha256);
