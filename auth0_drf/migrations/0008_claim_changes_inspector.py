"""Add the history of claim changes, the digests that see redacted claims change, and the token inspector's permission."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auth0_drf", "0007_rejection_counts"),
    ]

    operations = [
        migrations.CreateModel(
            name="TokenInspector",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "verbose_name": "token inspector",
                "verbose_name_plural": "token inspector",
                "permissions": [("use_token_inspector", "Can use the token inspector")],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.AddField(
            model_name="claimrecord",
            name="redacted_digests",
            field=models.JSONField(blank=True, default=dict, verbose_name="digests of redacted claims"),
        ),
        migrations.CreateModel(
            name="ClaimChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("claim", models.TextField(verbose_name="claim")),
                ("old_value", models.JSONField(blank=True, null=True, verbose_name="old value")),
                ("new_value", models.JSONField(blank=True, null=True, verbose_name="new value")),
                ("old_present", models.BooleanField(default=True, verbose_name="claim was present")),
                ("new_present", models.BooleanField(default=True, verbose_name="claim is present")),
                ("redacted", models.BooleanField(default=False, verbose_name="redacted")),
                ("changed_at", models.DateTimeField(db_index=True, verbose_name="seen changed at")),
                (
                    "record",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="changes",
                        to="auth0_drf.claimrecord",
                        verbose_name="recorded claims",
                    ),
                ),
            ],
            options={
                "verbose_name": "claim change",
                "verbose_name_plural": "claim changes",
                "ordering": ["-changed_at", "-pk"],
            },
        ),
    ]
