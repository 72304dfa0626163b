"""Schedules the installs watchdog (every minute): overdue waits fail, vanished workers' steps resume."""
from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="installs-watchdog",
        defaults={"func": "apps.installs.tasks.installs_watchdog", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="installs-watchdog").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("installs", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
