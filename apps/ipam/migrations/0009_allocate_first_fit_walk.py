"""PostgreSQL: ipam_allocate()'s first fit as an ordered walk over the parent's active children.

From the sixth call on a connection PL/pgSQL may keep one generic plan for the set-based search of
0007/0008, chosen without the values. Where one pool holds most of the table (a supernet, one big
pool and its 1,000 assignments), that plan read every child of the pool through the plain parent_id
index and sorted them — 1,025 rows for one /31 — so an allocation, and the time the parent row stays
locked, grew with the pool. (With the benchmark's 64 even pools the generic plan happened to be the
good one.) A cursor loop in address order is planned as an ordered scan of the active-children index
whatever the values, and stops at the first gap that fits. Same result: the lowest aligned block at
or after free_from that lies in a gap."""
import importlib

from django.db import migrations

FUNCTION = """CREATE OR REPLACE FUNCTION ipam_allocate(p_parent bigint, p_len integer, p_kind text, p_project uuid, p_server uuid, p_device uuid,
                                 p_label text, p_description text, p_parent_kinds text[],
                                 a_actor_type text, a_actor_id text, a_actor_name text, a_reason text, a_request_id text,
                                 a_source_ip inet, a_target_type integer)
    RETURNS TABLE (parent_id bigint, parent_network text, parent_family smallint, parent_prefix_length smallint,
                   parent_first numeric, parent_last numeric, parent_kind text, parent_parent_id bigint, parent_public boolean,
                   parent_facility_id bigint, parent_metro_id bigint, parent_project_id uuid, parent_released_at timestamptz,
                   new_id bigint, new_network text, new_first numeric, new_last numeric, new_gateway text,
                   new_assigned_at timestamptz, new_project_id uuid)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        par ipam_block%ROWTYPE;
        size numeric;
        start_at numeric;
        fit numeric;
        pos numeric;
        cand numeric;
        c_first numeric;
        c_last numeric;
        made ipam_block%ROWTYPE;
    BEGIN
        SELECT * INTO par FROM ipam_block b WHERE b.id = p_parent FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        parent_id := par.id; parent_network := par.network::text; parent_family := par.family;
        parent_prefix_length := par.prefix_length; parent_first := par.first; parent_last := par.last; parent_kind := par.kind;
        parent_parent_id := par.parent_id; parent_public := par.public; parent_facility_id := par.facility_id;
        parent_metro_id := par.metro_id; parent_project_id := par.project_id; parent_released_at := par.released_at;
        IF par.released_at IS NOT NULL OR NOT (par.kind = ANY(p_parent_kinds)) OR p_len < par.prefix_length
           OR p_len > (CASE WHEN par.family = 4 THEN 32 ELSE 128 END)
           OR (par.kind = 'reservation' AND p_project IS NOT NULL AND p_project IS DISTINCT FROM par.project_id) THEN
            RETURN NEXT;  -- the caller explains the refusal from the parent's columns
            RETURN;
        END IF;
        size := power(2::numeric, (CASE WHEN par.family = 4 THEN 32 ELSE 128 END) - p_len)::numeric(39, 0);
        start_at := coalesce(par.free_from, par.first);
        -- First fit: walk the active children in address order from start_at (the index on
        -- (parent_id, first) of active children, in order, so the walk stops at the first gap that
        -- holds an aligned block; usually the first row).
        pos := start_at;
        FOR c_first, c_last IN SELECT c.first, c.last FROM ipam_block c
                WHERE c.parent_id = par.id AND c.released_at IS NULL AND c.first >= start_at ORDER BY c.first LOOP
            cand := pos + mod(size - mod(pos, size), size);
            IF cand + size - 1 < c_first THEN
                fit := cand;
                EXIT;
            END IF;
            pos := greatest(pos, c_last + 1);
        END LOOP;
        IF fit IS NULL THEN
            cand := pos + mod(size - mod(pos, size), size);
            IF cand + size - 1 <= par.last THEN
                fit := cand;
            END IF;
        END IF;
        IF fit IS NULL THEN
            RETURN NEXT;
            RETURN;
        END IF;
        INSERT INTO ipam_block AS b (network, family, prefix_length, first, last, kind, parent_id, public, project_id, server_id,
                                     device_id, device_label, gateway, description, assigned_at, child_addresses, child_assigned)
        VALUES (set_masklen(ipam_inet(par.family, fit), p_len)::cidr, par.family, p_len, fit, fit + size - 1, p_kind, par.id,
                par.public, CASE WHEN par.kind = 'reservation' THEN par.project_id ELSE p_project END, p_server, p_device, p_label,
                CASE WHEN p_kind <> 'assignment' OR size = 1 THEN NULL
                     WHEN size = 2 THEN ipam_inet(par.family, fit) ELSE ipam_inet(par.family, fit + 1) END,
                p_description, now(), 0, 0)
        RETURNING * INTO made;
        -- The same event audit_record() writes for a created block: {field: [null, value]} for each
        -- field of the snapshot that has a value (apps.ipam.services.AUDITED_FIELDS).
        INSERT INTO audit_auditevent (time, actor_type, actor_id, actor_name, action, target_type_id, target_id, target_repr, changes,
                                      reason, request_id, source_ip)
        VALUES (now(), a_actor_type, a_actor_id, a_actor_name, 'ipam.' || p_kind || '.create', a_target_type, made.id::text,
                left(made.network::text, 200),
                (SELECT coalesce(jsonb_object_agg(e.key, jsonb_build_array(NULL, e.value)), '{}'::jsonb)
                 FROM jsonb_each(jsonb_strip_nulls(jsonb_build_object(
                     'network', made.network::text, 'kind', made.kind, 'parent', made.parent_id, 'project', made.project_id,
                     'facility', made.facility_id, 'metro', made.metro_id, 'device_id', made.device_id,
                     'device_label', made.device_label))) e),
                a_reason, a_request_id, a_source_ip);
        new_id := made.id; new_network := made.network::text; new_first := made.first; new_last := made.last;
        new_gateway := host(made.gateway); new_assigned_at := made.assigned_at; new_project_id := made.project_id;
        RETURN NEXT;
    END $$"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(importlib.import_module("apps.ipam.migrations.0008_allocate_with_audit").FUNCTION.replace(
            "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1), params=None)


class Migration(migrations.Migration):
    dependencies = [("ipam", "0008_allocate_with_audit")]
    operations = [migrations.RunPython(forward, backward)]
