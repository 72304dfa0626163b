"""PostgreSQL helpers for the one-round-trip allocation: an address integer → inet, and room on
each page (fillfactor) so the parent's counter updates stay HOT (no new index entries)."""
from django.db import migrations

FORWARD = [
    """CREATE FUNCTION ipam_inet(fam integer, value numeric) RETURNS inet LANGUAGE plpgsql IMMUTABLE STRICT AS $$
    DECLARE
        hex text := '';
        rest numeric := value;
    BEGIN
        IF fam = 4 THEN
            RETURN '0.0.0.0'::inet + value::bigint;
        END IF;
        FOR i IN 1..8 LOOP
            hex := lpad(to_hex(mod(rest, 65536)::integer), 4, '0') || CASE WHEN i = 1 THEN '' ELSE ':' END || hex;
            rest := div(rest, 65536);
        END LOOP;
        RETURN hex::inet;
    END $$""",
    "ALTER TABLE ipam_block SET (fillfactor = 80)",
]
BACKWARD = [
    "ALTER TABLE ipam_block RESET (fillfactor)",
    "DROP FUNCTION IF EXISTS ipam_inet(integer, numeric)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)
    return run


class Migration(migrations.Migration):
    dependencies = [("ipam", "0004_counters")]
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
