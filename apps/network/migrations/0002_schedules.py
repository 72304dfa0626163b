"""The network app's recurring work: the reconcile sweep (every minute) and the drift check."""
from django.conf import settings
from django.db import migrations
from django.utils import timezone

SCHEDULES = {
    "network: push pending port changes": ("apps.network.tasks.reconcile", 1),
    "network: drift check": ("apps.network.tasks.drift_check_all", None),
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={
            "func": func, "schedule_type": "I", "minutes": minutes or settings.SWITCH_DRIFT_CHECK_MINUTES,
            "repeats": -1, "next_run": timezone.now(),
        })


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("network", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
