"""PostgreSQL: admission as one function call, installs_admit(max, release).

Admission takes the admission lock, optionally frees the caller's slot, counts the runs starting and
marks the oldest queued runs admitted. Done from Python that was seven round trips, each of which a
busy web or task worker may wait seconds for its turn to send in a burst of orders (its threads
share one interpreter lock). As a PL/pgSQL function it is one; its statements still each see what
was committed before the lock was granted (READ COMMITTED takes a snapshot per statement in a
VOLATILE function), so no two callers ever fill the same slot."""
from django.db import migrations

FUNCTION = """CREATE OR REPLACE FUNCTION installs_admit(p_max integer, p_release uuid)
    RETURNS TABLE (install_id uuid, created_at timestamptz, facility_code text)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        free integer;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('metalyard.installs.admission'));
        IF p_release IS NOT NULL THEN
            UPDATE installs_install SET starting = false WHERE id = p_release AND starting;
            IF NOT FOUND THEN
                RETURN;  -- its slot was given up already: nothing for this caller to hand on
            END IF;
        END IF;
        SELECT p_max - count(*) INTO free FROM installs_install WHERE starting;
        IF free <= 0 THEN
            RETURN;
        END IF;
        RETURN QUERY
            WITH picked AS (
                SELECT i.id FROM installs_install i WHERE i.state = 'queued' AND NOT i.starting
                ORDER BY i.created_at LIMIT free
            ), admitted AS (
                UPDATE installs_install i SET starting = true, admitted_at = clock_timestamp()
                FROM picked WHERE i.id = picked.id
                RETURNING i.id, i.created_at, i.server_id
            )
            SELECT a.id, a.created_at, f.code::text FROM admitted a
            LEFT JOIN hardware_server s ON s.id = a.server_id
            LEFT JOIN facilities_facility f ON f.id = s.facility_id
            ORDER BY a.created_at;
    END $$;"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS installs_admit(integer, uuid)")


class Migration(migrations.Migration):
    dependencies = [
        ("installs", "0003_install_admission_and_device_seconds"),
        ("hardware", "0001_initial"),
        ("facilities", "0001_initial"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
