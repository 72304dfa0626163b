"""Tags and customdata on reservations (the customer's own labels, returned as given). The allocation
functions in PL/pgSQL insert blocks without naming these columns, so PostgreSQL carries the defaults too."""

from django.db import migrations, models


def column_defaults(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ipam_block ALTER COLUMN tags SET DEFAULT '[]'::jsonb, "
                              "ALTER COLUMN customdata SET DEFAULT '{}'::jsonb")


class Migration(migrations.Migration):

    dependencies = [
        ('ipam', '0009_allocate_first_fit_walk'),
    ]

    operations = [
        migrations.AddField(
            model_name='block',
            name='customdata',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='block',
            name='tags',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(column_defaults, migrations.RunPython.noop),
    ]
