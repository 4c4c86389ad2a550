from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0008_task_approval_states'),
    ]

    operations = [
        migrations.AlterField(
            model_name='workitem',
            name='kind',
            field=models.CharField(choices=[('asset_forward', 'Forward asset'), ('task_submit', 'Submit task'), ('task_refresh', 'Refresh task'), ('catalogue_sync', 'Sync model catalogue'), ('output_download', 'Download output'), ('usage_refresh', 'Refresh AudioShake usage figures'), ('mix_render', 'Render a mix export'), ('notification_send', 'Send a notification')], max_length=32),
        ),
    ]
