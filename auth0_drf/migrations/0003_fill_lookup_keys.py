"""Compute ``lookup_key`` for the rows that existed before 0002."""

from django.db import migrations

from auth0_drf.models import exact_key

BATCH = 1000


def fill_keys(apps, schema_editor):
    alias = schema_editor.connection.alias
    for name, fields in (("Auth0Identity", ("issuer", "subject")), ("ClaimRecord", ("issuer", "subject", "client_id"))):
        model = apps.get_model("auth0_drf", name)
        rows = model.objects.using(alias).filter(lookup_key__isnull=True).only("pk", *fields)
        batch = []
        for row in rows.iterator(chunk_size=BATCH):
            row.lookup_key = exact_key(*(getattr(row, field) or "" for field in fields))
            batch.append(row)
            if len(batch) >= BATCH:
                model.objects.using(alias).bulk_update(batch, ["lookup_key"])
                batch = []
        if batch:
            model.objects.using(alias).bulk_update(batch, ["lookup_key"])


class Migration(migrations.Migration):

    dependencies = [
        ("auth0_drf", "0002_add_lookup_keys"),
    ]

    operations = [
        # Going back to 0002 keeps the keys; 0002's own reversal drops the column.
        migrations.RunPython(fill_keys, migrations.RunPython.noop, elidable=False),
    ]
